#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "bridge.h"
#include "component.h"
#include "config.h"
#include "http.h"
#include "location_session.h"
#include "log.h"
#include "mqtt.h"
#include "notify.h"
#include "reload.h"
#include "reloader.h"
#include "session.h"
#include "xmpp.h"

#define SHUTDOWN_TIMEOUT_MS 5000
/* How long --reload waits for the answer: below systemd's 90 s for an ExecReload. */
#define RELOAD_WAIT_S 60
/* READY=1 once both sides are up, or this long after the start: the first attempts made. */
#define READY_AFTER_MS 10000

struct mxb_state {
	const char *config_path;
	bool debug; /* -d: debug whatever the file says, at every reload too */
	struct mxb_config cfg;
	struct mxb_bridge bridge;
	struct mxb_mqtt *mqtt;
	struct mxb_xmpp *xmpp; /* NULL without xmpp.jid */
	struct mxb_component *component; /* NULL without xmpp.component */
	struct mxb_location *location; /* NULL without location.accounts */
	int sigfd;
	bool stopping;
	bool mqtt_closing;
	bool xmpp_closing;
	int64_t stop_start;
	int64_t stop_deadline;
	struct mxb_notify notify;
	int64_t started;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: mqtt-xmpp-bridge [options]\n"
		"\n"
		"Bridges an MQTT broker and an XMPP account, both ways.\n"
		"\n"
		"  -c, --config FILE    configuration file (default %s)\n"
		"  -n, --check-config   check the configuration, print it and exit\n"
		"      --reload PID     reload the daemon PID and wait until it is done\n"
		"  -d, --debug          log at debug level, whatever the config says\n"
		"  -V, --version        print the version and exit\n"
		"  -h, --help           print this help and exit\n"
		"\n"
		"Signals: TERM/INT stop cleanly, HUP reloads the routes, USR1 logs counters.\n",
		MXB_CONFIG_DEFAULT_PATH);
}

static int load_config(struct mxb_config *cfg, const char *path)
{
	struct mxb_strlist errors = {0};
	int r = mxb_config_load(cfg, path, &errors);
	for (size_t i = 0; i < errors.len; i++)
		fprintf(stderr, "%s\n", errors.v[i]);
	if (r < 0 && errors.len == 0)
		fprintf(stderr, "%s: cannot load: %s\n", path, strerror(-r));
	mxb_strlist_finish(&errors);
	return r;
}

/* libstrophe takes fd 0 to mean "no socket": keep 0-2 taken. */
static int guard_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n < 0)
			return -errno;
		if (n != fd)
			close(n);
	}
	return 0;
}

static int signals_init(struct mxb_state *st)
{
	/* libstrophe writes with send(..., 0): a dropped peer must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	st->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	return st->sigfd < 0 ? -errno : 0;
}

static bool same_string(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static void swap_routes(struct mxb_config *a, struct mxb_config *b)
{
	struct mxb_config tmp = *a;
	a->notify = b->notify;
	a->notify_len = b->notify_len;
	a->commands = b->commands;
	a->commands_len = b->commands_len;
	a->pubsub = b->pubsub;
	a->pubsub_len = b->pubsub_len;
	a->subscribe = b->subscribe;
	a->subscribe_len = b->subscribe_len;
	a->bridge.max_payload = b->bridge.max_payload;
	a->bridge.max_message = b->bridge.max_message;
	a->bridge.bad_text = b->bridge.bad_text;
	a->bridge.log_level = b->bridge.log_level;
	b->notify = tmp.notify;
	b->notify_len = tmp.notify_len;
	b->commands = tmp.commands;
	b->commands_len = tmp.commands_len;
	b->pubsub = tmp.pubsub;
	b->pubsub_len = tmp.pubsub_len;
	b->subscribe = tmp.subscribe;
	b->subscribe_len = tmp.subscribe_len;
	b->bridge.max_payload = tmp.bridge.max_payload;
	b->bridge.max_message = tmp.bridge.max_message;
	b->bridge.bad_text = tmp.bridge.bad_text;
	b->bridge.log_level = tmp.bridge.log_level;
}

static const char *side(bool configured, bool up)
{
	return !configured ? "off" : up ? "up" : "down";
}

/* The STATUS= line: each side, and what went through. */
static bool tell_status(struct mxb_state *st)
{
	bool mqtt = mxb_mqtt_is_up(st->mqtt);
	bool xmpp = st->xmpp && mxb_xmpp_is_up(st->xmpp);
	bool comp = st->component && mxb_component_is_up(st->component);
	const struct mxb_counters *n = &st->bridge.n;
	char line[200];
	snprintf(line, sizeof(line),
		"mqtt %s, xmpp %s, component %s; %llu messages to XMPP, %llu commands to MQTT",
		side(true, mqtt), side(st->xmpp != NULL, xmpp), side(st->component != NULL, comp),
		(unsigned long long)n->xmpp_sent, (unsigned long long)n->commands_published);
	mxb_notify_status(&st->notify, line);
	return mqtt && (!st->xmpp || xmpp) && (!st->component || comp);
}

/* Swaps a's and b's values of one part of the config; the other parts stay. */
#define SWAP(a, b, field)                                 \
	do {                                              \
		__typeof__((a)->field) tmp_ = (a)->field; \
		(a)->field = (b)->field;                  \
		(b)->field = tmp_;                        \
	} while (0)

/* The client or the component was added to or removed from the config. */
static int sides_follow(struct mxb_state *st, const struct mxb_config *old, int64_t now)
{
	const struct mxb_config *cfg = &st->cfg;
	if (!old->xmpp.jid != !cfg->xmpp.jid) {
		mxb_xmpp_destroy(st->xmpp);
		st->xmpp = NULL;
		if (cfg->xmpp.jid) {
			if (mxb_xmpp_create(
				    &st->xmpp, cfg, &mxb_bridge_xmpp_handlers, &st->bridge) < 0)
				return -ENOMEM;
			mxb_xmpp_start(st->xmpp, now);
		}
		mxb_log_info("reload: the XMPP client is %s", cfg->xmpp.jid ? "added" : "removed");
		mxb_bridge_attach(&st->bridge, st->mqtt, st->xmpp);
	}
	if (!old->xmpp.component.domain != !cfg->xmpp.component.domain) {
		if (st->component) {
			mxb_bridge_devices_goodbye(&st->bridge);
			mxb_component_destroy(st->component);
		}
		st->component = NULL;
		if (cfg->xmpp.component.domain) {
			if (mxb_component_create(&st->component, cfg,
				    &mxb_bridge_component_handlers, &st->bridge) < 0)
				return -ENOMEM;
			mxb_component_start(st->component, now);
		}
		mxb_log_info("reload: the component is %s",
			cfg->xmpp.component.domain ? "added" : "removed");
		mxb_bridge_attach_component(&st->bridge, st->component);
	}
	return 0;
}

/*
 * Applies every change of a valid new config: routes, limits and devices at once, rooms
 * joined and left, the status said, queues resized and the journal moved at once, and a
 * side whose connection settings changed reconnected, alone. fresh receives the old
 * values, which are freed after.
 */
static void apply(struct mxb_state *st, struct mxb_config *fresh, unsigned changes, int64_t now)
{
	struct mxb_config *cfg = &st->cfg;
	bool new_client = !same_string(cfg->mqtt.client_id, fresh->mqtt.client_id) ||
			  cfg->mqtt.version != fresh->mqtt.version ||
			  cfg->mqtt.session_expiry != fresh->mqtt.session_expiry;
	if (changes & MXB_CHANGE_DEVICES) {
		SWAP(cfg, fresh, devices);
		SWAP(cfg, fresh, devices_len);
		SWAP(cfg, fresh, max_devices);
		mxb_bridge_devices_reconfigure(&st->bridge, fresh->devices, fresh->devices_len);
		mxb_bridge_devices_warn_overlaps(cfg);
	}
	if (changes & (MXB_CHANGE_ROUTES | MXB_CHANGE_LIMITS | MXB_CHANGE_DEVICES)) {
		swap_routes(cfg, fresh);
		/* fresh now holds the old routes, which the bridge needs to unsubscribe. */
		if (mxb_bridge_reload(&st->bridge, fresh) < 0) {
			mxb_log_error("reload: out of memory; keeping the running routes");
			swap_routes(cfg, fresh);
		}
		mxb_log_level = st->debug ? MXB_LOG_DEBUG : cfg->bridge.log_level;
	}
	/* Read by nothing that runs: the names it made are in the sections swapped below. */
	SWAP(cfg, fresh, bridge.instance);
	if (changes & MXB_CHANGE_QUEUE) {
		SWAP(cfg, fresh, bridge.queue_size);
		if (mxb_bridge_set_queue_size(&st->bridge) < 0) {
			mxb_log_error("reload: out of memory; the queues keep %zu entries",
				fresh->bridge.queue_size);
			SWAP(cfg, fresh, bridge.queue_size);
		}
	}
	if (changes & MXB_CHANGE_SPOOL) {
		SWAP(cfg, fresh, bridge.spool);
		if (mxb_bridge_move_spool(&st->bridge) < 0) {
			mxb_log_error("reload: cannot use the spool '%s'; keeping '%s'",
				cfg->bridge.spool ? cfg->bridge.spool : "(none)",
				fresh->bridge.spool ? fresh->bridge.spool : "(none)");
			SWAP(cfg, fresh, bridge.spool);
		}
	}
	unsigned xmpp_part = MXB_CHANGE_XMPP | MXB_CHANGE_XMPP_STATUS | MXB_CHANGE_XMPP_ROOMS |
			     MXB_CHANGE_XMPP_PRESENCE | MXB_CHANGE_COMPONENT | MXB_CHANGE_XMPP_ACKS;
	if (changes & xmpp_part) {
		/* The whole section: each side takes the new strings it borrows. */
		SWAP(cfg, fresh, xmpp);
		if (sides_follow(st, fresh, now) < 0)
			mxb_log_error("reload: out of memory; a side could not be added");
		if (st->xmpp && fresh->xmpp.jid && mxb_xmpp_reconfigure(st->xmpp, changes, now) < 0)
			mxb_log_error("reload: out of memory; the rooms are as before");
		if (st->component && fresh->xmpp.component.domain)
			mxb_component_reconfigure(
				st->component, changes & MXB_CHANGE_COMPONENT, now);
		if (changes & MXB_CHANGE_XMPP_PRESENCE) {
			/* The table renders as the settings say: made anew, filled by probes. */
			if (mxb_bridge_contacts_reconfigure(&st->bridge) < 0)
				mxb_log_error("reload: out of memory; contacts' presence is off");
			else if (st->xmpp)
				mxb_xmpp_probe_contacts(st->xmpp);
		}
	}
	if (changes & MXB_CHANGE_MQTT) {
		SWAP(cfg, fresh, mqtt);
		if (mxb_mqtt_reconfigure(st->mqtt, new_client, now) < 0)
			mxb_log_error("reload: the new MQTT settings could not all be set");
		if (new_client)
			mxb_bridge_mqtt_replaced(&st->bridge);
	}
	/* Read where each upload starts; the swap of the xmpp section took them already. */
	if ((changes & MXB_CHANGE_UPLOAD) && !(changes & xmpp_part))
		SWAP(cfg, fresh, xmpp.upload);
	if (changes & MXB_CHANGE_STATS) {
		/* The swap of the whole section above took these along already. */
		if (!(changes & MXB_CHANGE_MQTT)) {
			SWAP(cfg, fresh, mqtt.stats_topic);
			SWAP(cfg, fresh, mqtt.stats_interval);
		}
		/* A new topic has its value at once, and the new interval counts from now. */
		mxb_bridge_stats_publish(&st->bridge, now);
	}
}

static bool reload(struct mxb_state *st)
{
	struct mxb_config fresh = {0};
	mxb_log_info("reloading '%s'", st->config_path);
	mxb_notify_reloading(&st->notify);
	if (load_config(&fresh, st->config_path) < 0) {
		mxb_log_error("reload: '%s' has errors; keeping the running configuration",
			st->config_path);
		mxb_config_finish(&fresh);
		mxb_notify_reloaded(&st->notify);
		return false;
	}
	unsigned changes = mxb_reload_changes(&st->cfg, &fresh);
	char what[200];
	mxb_log_info("reload: changed: %s", mxb_reload_describe(changes, what, sizeof(what)));
	if (!mxb_config_location_equal(&st->cfg, &fresh))
		mxb_log_warn("reload: the location group changed; the running one stays until "
			     "the next start");
	apply(st, &fresh, changes, mxb_now_ms());
	mxb_log_info("reload: %zu notify and %zu command routes", st->cfg.notify_len,
		st->cfg.commands_len);
	mxb_config_finish(&fresh);
	mxb_notify_reloaded(&st->notify);
	return true;
}

static void begin_shutdown(struct mxb_state *st, int64_t now)
{
	if (st->stopping)
		return;
	st->stopping = true;
	mxb_notify_stopping(&st->notify);
	st->stop_deadline = now + SHUTDOWN_TIMEOUT_MS;
	mxb_log_info("shutting down");
	st->stop_start = now;
	/*
	 * Unavailable first, so that the server keeps new messages for the bridge (offline
	 * storage) rather than hand them to a bridge about to leave; then commands drain to
	 * MQTT and MQTT closes, the broker keeping new messages in the session; then what the
	 * bridge holds drains to XMPP and XMPP closes.
	 */
	if (st->xmpp)
		mxb_xmpp_leave(st->xmpp);
}

/* The XMPP side closes once MQTT is closed and what was held for XMPP is out and acked. */
static void finish_shutdown(struct mxb_state *st, int64_t now)
{
	if (!st->mqtt_closing) {
		/* Commands still on their way from the server, then those not yet published. */
		bool quiet =
			(!st->xmpp || mxb_xmpp_has_left(st->xmpp)) &&
			(!mxb_mqtt_is_up(st->mqtt) || mxb_bridge_commands_drained(&st->bridge));
		if (!quiet && now < st->stop_start + SHUTDOWN_TIMEOUT_MS / 4)
			return;
		st->mqtt_closing = true;
		mxb_mqtt_shutdown(st->mqtt, now);
	}
	if (st->xmpp_closing || !mxb_mqtt_is_closed(st->mqtt))
		return;
	bool drained = !st->xmpp || !mxb_xmpp_is_up(st->xmpp) || mxb_bridge_drained(&st->bridge);
	if (!drained && now < st->stop_deadline - SHUTDOWN_TIMEOUT_MS / 2)
		return;
	st->xmpp_closing = true;
	/* Before the client leaves: the other instances it still sees keep the devices. */
	if (st->component)
		mxb_bridge_devices_goodbye(&st->bridge);
	if (st->xmpp)
		mxb_xmpp_shutdown(st->xmpp, now);
	if (st->component)
		mxb_component_shutdown(st->component, now);
	mxb_location_shutdown(st->location, now);
}

static void read_signals(struct mxb_state *st, int64_t now)
{
	struct signalfd_siginfo si;
	while (read(st->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			begin_shutdown(st, now);
			break;
		case SIGHUP: {
			enum mxb_reload_result r = MXB_RELOAD_STOPPING;
			if (!st->stopping)
				r = reload(st) ? MXB_RELOAD_APPLIED : MXB_RELOAD_REFUSED;
			/* The sender may wait for it (--reload, the unit's ExecReload). */
			mxb_reloader_answer((int32_t)si.ssi_pid, si.ssi_code, si.ssi_int, r);
			break;
		}
		case SIGUSR1:
			mxb_bridge_log_counters(&st->bridge);
			break;
		}
	}
}

/*
 * The loop's timeout: until next (ms) or until the earliest batch of a session is due (µs:
 * batches wait a few milliseconds at most), whichever is first; NULL: no deadline.
 */
static struct timespec *timeout_of(int64_t next, int64_t now, int64_t flush_at, struct timespec *ts)
{
	int64_t us = INT64_MAX;
	if (next != INT64_MAX)
		us = next > now ? (next - now) * 1000 : 0;
	if (flush_at != INT64_MAX) {
		int64_t left = flush_at - mxb_now_us();
		if (left < 0)
			left = 0;
		if (left < us)
			us = left;
	}
	if (us == INT64_MAX)
		return NULL;
	ts->tv_sec = (time_t)(us / 1000000);
	ts->tv_nsec = (long)(us % 1000000) * 1000;
	return ts;
}

static int run(struct mxb_state *st)
{
	enum { FD_SIGNAL, FD_MQTT, FD_XMPP, FD_COMPONENT, FD_COUNT };
	/* After the fixed ones: the location accounts' sockets. */
	struct pollfd pfd[FD_COUNT + MXB_LOCATION_ACCOUNTS_MAX + MXB_HTTP_FDS_MAX];
	for (;;) {
		int64_t now = mxb_now_ms();
		int64_t next = mxb_mqtt_tick(st->mqtt, now);
		int64_t xnext = st->xmpp ? mxb_xmpp_tick(st->xmpp, now) : INT64_MAX;
		if (xnext < next)
			next = xnext;
		int64_t cnext = st->component ? mxb_component_tick(st->component, now) : INT64_MAX;
		if (cnext < next)
			next = cnext;
		int64_t lnext = mxb_location_tick(st->location, now);
		if (lnext < next)
			next = lnext;
		int64_t bnext = mxb_bridge_tick(&st->bridge, now);
		if (bnext < next)
			next = bnext;
		/* Fed here only: a loop that stops turning stops feeding the watchdog. */
		int64_t wnext = mxb_notify_tick(&st->notify, now);
		if (wnext < next)
			next = wnext;
		if (st->notify.enabled && !st->stopping) {
			bool all_up = tell_status(st);
			if (!st->notify.ready && (all_up || now >= st->started + READY_AFTER_MS))
				mxb_notify_ready(&st->notify, st->notify.status);
			else if (!st->notify.ready && st->started + READY_AFTER_MS < next)
				next = st->started + READY_AFTER_MS;
		}

		if (st->stopping) {
			finish_shutdown(st, now);
			if (st->xmpp_closing && mxb_mqtt_is_closed(st->mqtt) &&
				(!st->xmpp || mxb_xmpp_is_closed(st->xmpp)) &&
				(!st->component || mxb_component_is_closed(st->component)) &&
				mxb_location_is_closed(st->location))
				return 0;
			if (now >= st->stop_deadline) {
				mxb_log_warn("shutdown took longer than %d s; exiting anyway",
					SHUTDOWN_TIMEOUT_MS / 1000);
				return 0;
			}
			if (st->stop_deadline < next)
				next = st->stop_deadline;
		}

		/* The fixed ones, the location accounts' sessions, the HTTP sockets of uploads. */
		pfd[FD_SIGNAL] = (struct pollfd){.fd = st->sigfd, .events = POLLIN};
		pfd[FD_MQTT] = (struct pollfd){.fd = mxb_mqtt_fd(st->mqtt), .events = 0};
		pfd[FD_XMPP] = (struct pollfd){.fd = st->xmpp ? mxb_xmpp_fd(st->xmpp) : -1};
		pfd[FD_COMPONENT] =
			(struct pollfd){.fd = st->component ? mxb_component_fd(st->component) : -1};
		size_t nloc = mxb_location_pollfds(
			st->location, pfd + FD_COUNT, MXB_LOCATION_ACCOUNTS_MAX);
		if (pfd[FD_MQTT].fd >= 0)
			pfd[FD_MQTT].events = mxb_mqtt_events(st->mqtt);
		if (pfd[FD_XMPP].fd >= 0)
			pfd[FD_XMPP].events = mxb_xmpp_events(st->xmpp);
		if (pfd[FD_COMPONENT].fd >= 0)
			pfd[FD_COMPONENT].events = mxb_component_events(st->component);
		size_t nhttp =
			mxb_bridge_poll_fds(&st->bridge, pfd + FD_COUNT + nloc, MXB_HTTP_FDS_MAX);

		struct timespec ts;
		if (ppoll(pfd, (nfds_t)(FD_COUNT + nloc + nhttp),
			    timeout_of(next, now, mxb_sessions_flush_at(), &ts), NULL) < 0) {
			if (errno == EINTR)
				continue;
			mxb_log_errno(MXB_LOG_ERROR, "poll");
			return -1;
		}
		now = mxb_now_ms();
		if (pfd[FD_SIGNAL].revents & POLLIN)
			read_signals(st, now);
		if (pfd[FD_MQTT].fd >= 0 && pfd[FD_MQTT].revents)
			mxb_mqtt_handle(st->mqtt, pfd[FD_MQTT].revents, now);
		/* Each session decides from its socket's events whether libstrophe must run. */
		if (st->xmpp)
			mxb_xmpp_handle(
				st->xmpp, pfd[FD_XMPP].fd >= 0 ? pfd[FD_XMPP].revents : 0, now);
		if (st->component)
			mxb_component_handle(st->component,
				pfd[FD_COMPONENT].fd >= 0 ? pfd[FD_COMPONENT].revents : 0, now);
		mxb_location_handle(st->location, pfd + FD_COUNT, nloc);
		mxb_bridge_poll_handle(&st->bridge, pfd + FD_COUNT + nloc, nhttp);
	}
}

/*
 * libstrophe loads OpenSSL's default trust store on top of xmpp.ca_file, so a configured
 * CA did not make the bridge trust only it, and the system bundle costs about 900 KB.
 * OpenSSL's defaults come from SSL_CERT_FILE and SSL_CERT_DIR: point them at the
 * configured CA. libmosquitto uses the defaults only when mqtt.tls has no ca_file, so this
 * is done only when that is not the case.
 */
static void trust_only_configured_cas(const struct mxb_config *cfg)
{
	if (!cfg->xmpp.ca_file || (cfg->mqtt.tls && !cfg->mqtt.ca_file))
		return;
	setenv("SSL_CERT_FILE", cfg->xmpp.ca_file, 1);
	setenv("SSL_CERT_DIR", "/nonexistent", 1);
}

static void warn_about_config(const struct mxb_config *cfg)
{
	if (!cfg->mqtt.tls && strcmp(cfg->mqtt.host, "localhost") != 0 &&
		strncmp(cfg->mqtt.host, "127.", 4) != 0 && strcmp(cfg->mqtt.host, "::1") != 0)
		mxb_log_warn("mqtt: TLS is off for the remote broker '%s': add an mqtt.tls group",
			cfg->mqtt.host);
	if (cfg->commands_len == 0)
		mxb_log_info("no commands routes: nothing from XMPP will be published to MQTT");
	mxb_bridge_devices_warn_overlaps(cfg);
}

int main(int argc, char **argv)
{
	/*
	 * The connection attempts' threads allocate what the loop then uses (libstrophe's
	 * connection, OpenSSL's): one heap for all, not an arena per thread.
	 */
	mallopt(M_ARENA_MAX, 1);
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'n'},
		{"reload", required_argument, NULL, 'R'},
		{"debug", no_argument, NULL, 'd'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct mxb_state st = {.config_path = MXB_CONFIG_DEFAULT_PATH, .sigfd = -1};
	bool check = false;
	int c;
	while ((c = getopt_long(argc, argv, "c:ndVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			st.config_path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'R':
			return mxb_reloader_run(optarg, RELOAD_WAIT_S);
		case 'd':
			st.debug = true;
			break;
		case 'V':
			printf("mqtt-xmpp-bridge %s\n", MXB_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mqtt-xmpp-bridge: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	if (load_config(&st.cfg, st.config_path) < 0) {
		mxb_config_finish(&st.cfg);
		return 1;
	}
	if (check) {
		/* Allowed but worth knowing before a start: on stderr, as at a start. */
		mxb_bridge_devices_warn_overlaps(&st.cfg);
		mxb_config_print(&st.cfg, stdout);
		printf("%s: OK\n", st.config_path);
		mxb_config_finish(&st.cfg);
		return 0;
	}

	int ret = 1;
	mxb_log_init(st.debug ? MXB_LOG_DEBUG : st.cfg.bridge.log_level);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	if (guard_std_fds() < 0 || signals_init(&st) < 0) {
		mxb_log_errno(MXB_LOG_ERROR, "cannot set up signals");
		goto err_finish_config;
	}
	mxb_log_info("mqtt-xmpp-bridge %s starting with '%s'", MXB_VERSION, st.config_path);
	trust_only_configured_cas(&st.cfg);
	warn_about_config(&st.cfg);
	if (mxb_bridge_init(&st.bridge, &st.cfg) < 0) {
		mxb_log_error("cannot set up the routes: out of memory");
		goto err_close_signals;
	}
	if (mxb_mqtt_create(&st.mqtt, &st.cfg, &mxb_bridge_mqtt_handlers, &st.bridge) < 0)
		goto err_finish_bridge;
	if (st.cfg.xmpp.jid &&
		mxb_xmpp_create(&st.xmpp, &st.cfg, &mxb_bridge_xmpp_handlers, &st.bridge) < 0) {
		mxb_log_error("xmpp: cannot create the client");
		goto err_destroy_mqtt;
	}
	if (st.cfg.xmpp.component.domain &&
		mxb_component_create(
			&st.component, &st.cfg, &mxb_bridge_component_handlers, &st.bridge) < 0) {
		mxb_log_error("component: cannot create the connection");
		goto err_destroy_xmpp;
	}
	if (mxb_location_create(&st.location, &st.cfg, &st.bridge.n) < 0) {
		mxb_log_error("location: cannot create the accounts' sessions");
		goto err_destroy_component;
	}
	mxb_bridge_attach(&st.bridge, st.mqtt, st.xmpp);
	mxb_bridge_attach_component(&st.bridge, st.component);
	mxb_bridge_attach_location(&st.bridge, st.location);

	int64_t now = mxb_now_ms();
	st.started = now;
	mxb_notify_init(&st.notify, now);
	mxb_mqtt_start(st.mqtt, now);
	if (st.xmpp)
		mxb_xmpp_start(st.xmpp, now);
	if (st.component)
		mxb_component_start(st.component, now);
	mxb_location_start(st.location, now);
	ret = run(&st) < 0 ? 1 : 0;
	mxb_bridge_log_counters(&st.bridge);
	mxb_log_info("stopped");

	mxb_location_destroy(st.location);
err_destroy_component:
	mxb_component_destroy(st.component);
err_destroy_xmpp:
	mxb_xmpp_destroy(st.xmpp);
err_destroy_mqtt:
	mxb_mqtt_destroy(st.mqtt);
err_finish_bridge:
	mxb_bridge_finish(&st.bridge);
err_close_signals:
	if (st.sigfd >= 0)
		close(st.sigfd);
err_finish_config:
	mxb_config_finish(&st.cfg);
	return ret;
}
