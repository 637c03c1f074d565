/* Files named through ${CREDENTIALS_DIRECTORY}, as a unit with LoadCredential= has them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char dir[] = "/tmp/test_credentials.XXXXXX";
static char creds[sizeof(dir) + 16];
static char conf[sizeof(dir) + 16];

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0 || chmod(path, mode) != 0) {
		perror(path);
		abort();
	}
}

/* Loads conf; returns the errors joined by '\n' (the caller frees it), or NULL when it loads. */
static char *load(struct mxb_config *cfg)
{
	struct mxb_strlist errors = {0};
	int ret = mxb_config_load(cfg, conf, &errors);
	char *all = NULL;
	if (ret != 0) {
		size_t n = 1;
		for (size_t i = 0; i < errors.len; i++)
			n += strlen(errors.v[i]) + 1;
		all = calloc(1, n);
		for (size_t i = 0; all && i < errors.len; i++) {
			strcat(all, errors.v[i]);
			strcat(all, i + 1 < errors.len ? "\n" : "");
		}
	}
	mxb_strlist_finish(&errors);
	return all;
}

static void test_credentials(void)
{
	char path[sizeof(creds) + 32], want[512];
	snprintf(creds, sizeof(creds), "%s/creds", dir);
	CHECK(mkdir(creds, 0500 | 0200) == 0);
	snprintf(path, sizeof(path), "%s/xmpp.password", creds);
	/* systemd makes credential files 0400, owned by the unit's user */
	write_file(path, "from-systemd\n", 0400);
	snprintf(path, sizeof(path), "%s/mqtt.password", creds);
	write_file(path, "mqtt-from-systemd\n", 0400);
	snprintf(conf, sizeof(conf), "%s/bridge.conf", dir);
	write_file(conf,
		"xmpp: { jid = \"bot@example.org\";\n"
		"  password_file = \"${CREDENTIALS_DIRECTORY}/xmpp.password\"; };\n"
		"mqtt: { username = \"u\";\n"
		"  password_file = \"${CREDENTIALS_DIRECTORY}/mqtt.password\"; };\n",
		0640);

	struct mxb_config cfg;
	unsetenv("CREDENTIALS_DIRECTORY");
	char *err = load(&cfg);
	snprintf(want, sizeof(want),
		"%s:2: password_file '${CREDENTIALS_DIRECTORY}/xmpp.password' names a systemd "
		"credential, but CREDENTIALS_DIRECTORY is not set (systemd sets it for a unit "
		"with LoadCredential=)\n"
		"%s:4: password_file '${CREDENTIALS_DIRECTORY}/mqtt.password' names a systemd "
		"credential, but CREDENTIALS_DIRECTORY is not set (systemd sets it for a unit "
		"with LoadCredential=)",
		conf, conf);
	CHECK_STR(err, want);
	free(err);

	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	err = load(&cfg);
	CHECK(err == NULL);
	if (!err) {
		CHECK_STR(cfg.xmpp.password, "from-systemd");
		CHECK_STR(cfg.mqtt.password, "mqtt-from-systemd");
		mxb_config_finish(&cfg);
	}
	free(err);

	/* A credential the unit does not load: the file is not there. */
	write_file(conf,
		"xmpp: { jid = \"bot@example.org\";\n"
		"  password_file = \"${CREDENTIALS_DIRECTORY}/other\"; };\n"
		"mqtt: { username = \"u\";\n"
		"  password_file = \"${CREDENTIALS_DIRECTORY}/a/b\"; };\n",
		0640);
	err = load(&cfg);
	snprintf(want, sizeof(want),
		"%s:2: cannot read password_file '%s/other': No such file or directory\n"
		"%s:4: 'password_file' must be ${CREDENTIALS_DIRECTORY}/NAME, NAME a credential "
		"of the unit",
		conf, creds, conf);
	CHECK_STR(err, want);
	free(err);
	unsetenv("CREDENTIALS_DIRECTORY");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_credentials();
	char path[sizeof(creds) + 32];
	snprintf(path, sizeof(path), "%s/xmpp.password", creds);
	unlink(path);
	snprintf(path, sizeof(path), "%s/mqtt.password", creds);
	unlink(path);
	rmdir(creds);
	unlink(conf);
	rmdir(dir);
	return check_report("credentials");
}
