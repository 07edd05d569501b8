/*
 * config_fuzz.c: libFuzzer harness for the YAML configuration parser.
 *
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. \
 *       tests/fuzz/config_fuzz.c daemon/config.c daemon/log.c -lyaml
 *
 * Any input must give 0 or -1 with a NUL-terminated message that starts with
 * the name, never a crash or a leak, and a successful load must hold values
 * within the documented ranges.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[CFG_ERR_LEN];
	int r;

	log_set_level(LOG_LVL_ERROR);
	/* The environment must not make runs differ. */
	unsetenv("NGROK_API_KEY");
	r = config_load_buf(&cfg, "fuzz.yml", (const char *)data, size, err,
	    sizeof(err));
	if (r != 0) {
		if (r != -1 || strncmp(err, "fuzz.yml", 8) != 0 ||
		    memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	if (cfg.mtu < 576 || cfg.mtu > 65535 || cfg.subnet_prefix < 8 ||
	    cfg.subnet_prefix > 30 || cfg.start_port == 0 ||
	    cfg.max_streams == 0 || cfg.n_selectors == 0 ||
	    cfg.n_selectors > CFG_MAX_SELECTORS ||
	    cfg.n_overrides > CFG_MAX_OVERRIDES ||
	    cfg.client_cert == NULL || cfg.client_key == NULL)
		abort();
	config_free(&cfg);
	return 0;
}
