/*
 * Fuzzes the config loader with whole files. The input is written to bridge.conf in a
 * private temp dir named once per process (so @include and relative file names stay inside
 * it), loaded and released; ASan's leak check runs after every input under libFuzzer.
 * A file that loads must give a config the bridge can trust; one that does not must say
 * why, each message as "file:line: message".
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_hint.h"
#include "fuzz.h"
#include "jid.h"
#include "topic.h"

static char dir[] = "/tmp/mxb-fuzz-config-XXXXXX";
static char path[sizeof(dir) + 16];
static bool dir_reserved;
static FILE *devnull;

/*
 * The directory exists only while an input runs: libFuzzer may leave with _Exit, which
 * skips atexit handlers. mkdtemp picks the name once; later inputs create it again.
 */
static void enter_dir(void)
{
	if (!dir_reserved) {
		FUZZ_CHECK(mkdtemp(dir));
		snprintf(path, sizeof(path), "%s/bridge.conf", dir);
		devnull = fopen("/dev/null", "we");
		FUZZ_CHECK(devnull);
		dir_reserved = true;
	} else {
		FUZZ_CHECK(mkdir(dir, 0700) == 0);
	}
}

static void leave_dir(void)
{
	FUZZ_CHECK(unlink(path) == 0);
	FUZZ_CHECK(rmdir(dir) == 0);
}

static void write_file(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	while (size > 0) {
		ssize_t n = write(fd, data, size);
		FUZZ_CHECK(n > 0);
		data += n;
		size -= (size_t)n;
	}
	FUZZ_CHECK(close(fd) == 0);
}

/*
 * Whether every @include names a plain file name. libconfig 1.5 opens a directory given
 * to @include ("", ".", "sub/") and its flex scanner then exit()s the process: a known
 * bug (reported with the fuzzers, crasher in /work/notes/crashers/) that would stop every
 * run here. Such inputs are skipped until config.c refuses them.
 */
static bool includes_plain(const uint8_t *data, size_t size)
{
	static const char kw[] = "@include";
	const char *end = (const char *)data + size;
	for (const char *p = (const char *)data; p < end;) {
		p = memmem(p, (size_t)(end - p), kw, sizeof(kw) - 1);
		if (!p)
			return true;
		p += sizeof(kw) - 1;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p != '"')
			continue;
		const char *name = ++p;
		while (p < end &&
			(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.'))
			p++;
		if (p == end || *p != '"' || p == name ||
			memchr(name, '.', (size_t)(p - name)) == name)
			return false;
	}
	return true;
}

/* "FILE:LINE: message", the message non-empty; FILE may itself hold ':'. */
static bool error_well_formed(const char *e)
{
	for (const char *p = strchr(e, ':'); p; p = strchr(p + 1, ':')) {
		const char *q = p + 1;
		if (!isdigit((unsigned char)*q))
			continue;
		while (isdigit((unsigned char)*q))
			q++;
		if (q[0] == ':' && q[1] == ' ' && q[2] != '\0')
			return p > e;
	}
	return false;
}

/* Bare JIDs ("*@domain" too where wildcard says so), or topic filters. */
static void check_strlist(const struct mxb_strlist *l, bool filters, bool wildcard)
{
	FUZZ_CHECK(l->len == 0 || l->v);
	for (size_t i = 0; i < l->len; i++) {
		const char *v = l->v[i];
		FUZZ_CHECK(v);
		if (filters)
			FUZZ_CHECK(mxb_topic_filter_valid(v));
		else if (wildcard && strncmp(v, "*@", 2) == 0)
			FUZZ_CHECK(mxb_jid_is_bare(v + 2));
		else
			FUZZ_CHECK(mxb_jid_is_bare(v));
	}
}

static void check_loaded(const struct mxb_config *cfg)
{
	FUZZ_CHECK(cfg->path && strcmp(cfg->path, path) == 0);
	FUZZ_CHECK(cfg->xmpp.jid && mxb_jid_valid(cfg->xmpp.jid));
	FUZZ_CHECK(cfg->mqtt.host && cfg->mqtt.client_id && cfg->mqtt.status_topic);
	FUZZ_CHECK(cfg->xmpp.port >= 0 && cfg->xmpp.port <= 65535);
	FUZZ_CHECK(cfg->mqtt.port > 0 && cfg->mqtt.port <= 65535);
	FUZZ_CHECK(cfg->mqtt.version == 3 || cfg->mqtt.version == 5);
	FUZZ_CHECK(cfg->mqtt.keepalive >= 5 && cfg->mqtt.keepalive <= 65535);
	FUZZ_CHECK(cfg->bridge.queue_size > 0 && cfg->bridge.max_payload > 0 &&
		   cfg->bridge.max_message > 0);
	FUZZ_CHECK(cfg->notify_len == 0 || cfg->notify);
	for (size_t i = 0; i < cfg->notify_len; i++) {
		const struct mxb_notify_route *r = &cfg->notify[i];
		FUZZ_CHECK(r->topic && mxb_topic_filter_valid(r->topic));
		FUZZ_CHECK(r->message && r->tmpl);
		FUZZ_CHECK(r->qos >= 0 && r->qos <= 2);
		FUZZ_CHECK(r->to.len > 0);
		check_strlist(&r->to, false, false);
	}
	FUZZ_CHECK(cfg->commands_len == 0 || cfg->commands);
	for (size_t i = 0; i < cfg->commands_len; i++) {
		const struct mxb_command_route *r = &cfg->commands[i];
		FUZZ_CHECK(r->qos >= 0 && r->qos <= 2);
		check_strlist(&r->from, false, true);
		check_strlist(&r->allow, true, false);
	}
}

/* The syntax hints read any text: a hint is a bounded, NUL-terminated line. */
static void check_hints(const uint8_t *data, size_t size)
{
	char hint[160];
	unsigned lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	unsigned at[] = {1, 2, lines / 2 + 1, lines, lines + 1};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		if (mxb_conf_syntax_hint((const char *)data, size, at[i], hint, sizeof(hint)))
			FUZZ_CHECK(strlen(hint) > 0 && strlen(hint) < sizeof(hint) &&
				   !strchr(hint, '\n'));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_hints(data, size);
	if (!includes_plain(data, size))
		return 0;
	enter_dir();
	write_file(data, size);

	struct mxb_config cfg;
	struct mxb_strlist errors = {0};
	int ret = mxb_config_load(&cfg, path, &errors);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	if (ret == 0) {
		FUZZ_CHECK(errors.len == 0);
		check_loaded(&cfg);
		mxb_config_print(&cfg, devnull);
	} else {
		FUZZ_CHECK(errors.len > 0);
		for (size_t i = 0; i < errors.len; i++) {
			if (!error_well_formed(errors.v[i])) {
				fprintf(stderr, "malformed error: '%s'\n", errors.v[i]);
				abort();
			}
		}
	}
	/* A failed load leaves cfg released already; finishing it again must be harmless. */
	mxb_config_finish(&cfg);
	mxb_strlist_finish(&errors);
	leave_dir();
	return 0;
}
