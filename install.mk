# install.mk: `make install`, `make uninstall` and `make demo`; included
# from the end of the Makefile (which defines OS, OUT, NGROKD, NGROKCTL, Q
# and the targets all and test-build).
#
#   make install   [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc] ...
#   make uninstall (same variables; keeps the configuration and the state)
#   make demo      ngrokd end to end in a private network namespace (root)
#
# What goes where (docs/operating.md has the same table):
#   $(SBINDIR)/ngrokd                  daemon
#   $(BINDIR)/ngrokctl                 control client
#   $(MANDIR)/man8/ngrokd.8, ngrokctl.8, $(MANDIR)/man5/ngrokd.yml.5
#   $(DOCDIR)/                         README, docs/*.md, config.example.yml
#   $(SYSCONFDIR)/ngrokd/config.yml    docs/config.example.yml with the
#                                      production values; mode 0600; an
#                                      existing file is never replaced
#   Linux:  $(SYSTEMDUNITDIR)/ngrokd.service, ngrokd.socket
#   macOS:  $(LAUNCHDDIR)/com.ngrok.ngrokd.plist
# The ngrokd group (access to the control socket) is created only when
# DESTDIR is empty and the group does not exist yet.
#
# The service files in docs/service/ name /usr/local/sbin/ngrokd and
# /etc/ngrokd/config.yml; those two paths are rewritten to the installed ones.

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
MANDIR		?= $(PREFIX)/share/man
DOCDIR		?= $(PREFIX)/share/doc/ngrokd
SYSCONFDIR	?= /etc
SYSTEMDUNITDIR	?= $(PREFIX)/lib/systemd/system
LAUNCHDDIR	?= /Library/LaunchDaemons
NGROKD_GROUP	?= ngrokd
# Which service files to install: Linux (systemd) or Darwin (launchd).
INSTALL_OS	?= $(OS)
INSTALL		?= install

INST_CONF	:= $(DESTDIR)$(SYSCONFDIR)/ngrokd/config.yml
INST_DOCS	:= README.md $(wildcard docs/*.md) docs/config.example.yml
SVC_PATHS	:= -e 's|/usr/local/sbin/ngrokd|$(SBINDIR)/ngrokd|g' \
		   -e 's|/etc/ngrokd/config.yml|$(SYSCONFDIR)/ngrokd/config.yml|g'
# docs/config.example.yml is set up for a trial run (paths under /tmp,
# net.mode loopback): its header goes (up to the first empty line), and the
# four trial values become the production ones.
CONF_SED	:= -e '1,/^$$/d' -e '/\# Production:/d' -e 's|[.]  Production: .*|.|' \
		   -e 's|^\(  socket_path:\).*|\1 /var/run/ngrokd.sock|' \
		   -e 's|^\(  state_dir:\).*|\1 /var/lib/ngrokd|' \
		   -e 's|^\(  hosts_file:\).*|\1 /etc/hosts|' \
		   -e 's|^\(  mode:\).*|\1 auto|' \
		   -e 's|/tmp/ngrokd-example/state|/var/lib/ngrokd|g'

.PHONY: install uninstall demo install-bin install-man install-doc \
	install-config install-group install-service

install: install-bin install-man install-doc install-group install-config \
	install-service
	@echo "installed.  Next steps (docs/operating.md):"
ifeq ($(INSTALL_OS),Darwin)
	@echo "  launchctl bootstrap system $(LAUNCHDDIR)/com.ngrok.ngrokd.plist"
else
	@echo "  systemctl daemon-reload && systemctl enable --now ngrokd.socket ngrokd.service"
endif
	@echo "  ngrokctl set-api-key            # reads the key without echoing it"
	@echo "  ngrokctl list"

install-bin: all
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(NGROKD) $(DESTDIR)$(SBINDIR)/ngrokd
	$(INSTALL) -m 0755 $(NGROKCTL) $(DESTDIR)$(BINDIR)/ngrokctl

install-man:
	$(INSTALL) -d -m 0755 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	$(INSTALL) -m 0644 docs/ngrokd.8 docs/ngrokctl.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 docs/ngrokd.yml.5 $(DESTDIR)$(MANDIR)/man5/

install-doc:
	$(INSTALL) -d -m 0755 $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 0644 $(INST_DOCS) $(DESTDIR)$(DOCDIR)/

# Never replaces an existing file: it is the administrator's (and may hold
# the API key).
install-config:
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/ngrokd
	$(Q)if [ -e $(INST_CONF) ]; then \
		echo "kept the existing $(INST_CONF) (the new example is $(DOCDIR)/config.example.yml)"; \
	else \
		{ printf '%s\n' \
		    '# ngrokd configuration; ngrokd.yml(5) documents every key.' \
		    '# Installed by "make install" (which never replaces it) from' \
		    '# docs/config.example.yml, with the production values.' \
		    '# If you put api.key here, keep this file mode 0600.' \
		    '# Check a change with "ngrokd --config $(SYSCONFDIR)/ngrokd/config.yml --check",' \
		    '# apply it with "systemctl reload ngrokd" (or kill -HUP).' ''; \
		  sed $(CONF_SED) docs/config.example.yml; } > $(INST_CONF).tmp && \
		if grep -v '^[[:space:]]*#' $(INST_CONF).tmp | grep -Eq '/tmp/|mode: loopback'; then \
			rm -f $(INST_CONF).tmp; \
			echo "install.mk: docs/config.example.yml changed shape: trial values left in the production config" >&2; \
			exit 1; \
		fi && \
		chmod 0600 $(INST_CONF).tmp && mv $(INST_CONF).tmp $(INST_CONF) && \
		echo "installed $(INST_CONF)"; \
	fi

install-group:
ifeq ($(DESTDIR),)
ifeq ($(INSTALL_OS),Darwin)
	$(Q)dscl . -read /Groups/$(NGROKD_GROUP) >/dev/null 2>&1 || { \
		dseditgroup -o create -r "ngrokd control socket" $(NGROKD_GROUP) && \
		echo "created group $(NGROKD_GROUP)"; }
else
	$(Q)getent group $(NGROKD_GROUP) >/dev/null 2>&1 || { \
		groupadd --system $(NGROKD_GROUP) && echo "created group $(NGROKD_GROUP)"; }
endif
endif

ifeq ($(INSTALL_OS),Darwin)
# SockPathGroup is a number: the group's id when the group exists here.
install-service:
	$(INSTALL) -d -m 0755 $(DESTDIR)$(LAUNCHDDIR)
	$(Q)gid=$$(dscl . -read /Groups/$(NGROKD_GROUP) PrimaryGroupID 2>/dev/null | awk '{print $$2}'); \
	sed $(SVC_PATHS) \
	    -e "/<key>SockPathGroup<\/key>/{n;s|<integer>[0-9]*</integer>|<integer>$${gid:-0}</integer>|;}" \
	    docs/service/com.ngrok.ngrokd.plist > $(DESTDIR)$(LAUNCHDDIR)/com.ngrok.ngrokd.plist && \
	chmod 0644 $(DESTDIR)$(LAUNCHDDIR)/com.ngrok.ngrokd.plist
else
install-service:
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSTEMDUNITDIR)
	sed $(SVC_PATHS) docs/service/ngrokd.service > $(DESTDIR)$(SYSTEMDUNITDIR)/ngrokd.service
	sed -e 's|^SocketGroup=.*|SocketGroup=$(NGROKD_GROUP)|' docs/service/ngrokd.socket \
	    > $(DESTDIR)$(SYSTEMDUNITDIR)/ngrokd.socket
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/ngrokd.service $(DESTDIR)$(SYSTEMDUNITDIR)/ngrokd.socket
endif

# Stop the service first (docs/operating.md).  The configuration, the state
# directory (certificate, key, addresses) and the group stay.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/ngrokd $(DESTDIR)$(BINDIR)/ngrokctl
	rm -f $(DESTDIR)$(MANDIR)/man8/ngrokd.8 $(DESTDIR)$(MANDIR)/man8/ngrokctl.8 \
	    $(DESTDIR)$(MANDIR)/man5/ngrokd.yml.5
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(INST_DOCS)))
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/ngrokd.service $(DESTDIR)$(SYSTEMDUNITDIR)/ngrokd.socket \
	    $(DESTDIR)$(LAUNCHDDIR)/com.ngrok.ngrokd.plist
	@echo "kept $(INST_CONF), /var/lib/ngrokd and the $(NGROKD_GROUP) group; remove them by hand if you want"

# The demo needs the daemon, ngrokctl and the fake ingress (tests/fake/).
demo: all test-build
	$(Q)OUT=$(OUT) bash tests/demo/demo.sh
