# soak.mk: included by the Makefile.
#   make soak [SOAK_SECONDS=N]   a bounded soak of the real daemon (root):
#                                connection churn and endpoint changes for N
#                                seconds (default 180); samples fds, streams
#                                and RSS, prints the table and a verdict,
#                                fails if they do not return to baseline.
SOAK_SECONDS ?= 180

.PHONY: soak

soak: test-build
	$(Q)OUT=$(OUT) SOAK_SECONDS=$(SOAK_SECONDS) bash tests/soak/soak.sh
