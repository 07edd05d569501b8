/* ngrokctl.c: placeholder until the control issue lands. */
#include <stdio.h>
#include <string.h>

int
main(int argc, char *argv[])
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: ngrokctl [--socket PATH] COMMAND [ARGS]\n");
		return 0;
	}
	fprintf(stderr, "ngrokctl: not implemented yet\n");
	return 2;
}
