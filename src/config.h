#ifndef MXB_CONFIG_H
#define MXB_CONFIG_H

/*
 * bridge.conf (libconfig syntax) in, a validated plain struct out. No libconfig type
 * escapes this module. Every error carries "file:line: ", all of them are collected in
 * one run, and unknown keys are errors.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"

#define MXB_CONFIG_DEFAULT_PATH "/etc/mqtt-xmpp-bridge/bridge.conf"

enum mxb_xmpp_tls {
	MXB_XMPP_TLS_STARTTLS,
	MXB_XMPP_TLS_DIRECT,
	MXB_XMPP_TLS_NONE,
};

enum mxb_bad_text {
	/* Invalid UTF-8 and characters XML forbids become U+FFFD. */
	MXB_BAD_TEXT_REPLACE,
	/* The message is refused, logged and counted. */
	MXB_BAD_TEXT_REFUSE,
};

struct mxb_strlist {
	char **v;
	size_t len;
};

struct mxb_template;

/* MQTT -> XMPP: a message on a topic matching `topic` goes to every JID in `to`. */
struct mxb_notify_route {
	char *topic;
	struct mxb_strlist to;
	char *message;
	struct mxb_template *tmpl;
	int qos;
	int line;
};

/* XMPP -> MQTT: "TOPIC PAYLOAD" from a JID in `from`, published when TOPIC matches `allow`. */
struct mxb_command_route {
	struct mxb_strlist from;
	struct mxb_strlist allow;
	int qos;
	bool retain;
	int line;
};

struct mxb_config {
	char *path;

	struct {
		enum mxb_log_level log_level; /* "info" */
		size_t queue_size; /* 1000 per direction */
		size_t max_payload; /* 4096 bytes of MQTT payload */
		size_t max_message; /* 8192 bytes of rendered message body */
		enum mxb_bad_text bad_text; /* "replace" */
	} bridge;

	struct {
		char *jid;
		char *password; /* from password or the first line of password_file */
		char *host; /* NULL: the JID's domain, SRV first */
		int port; /* 0: default (5222, or 5223 for direct TLS) */
		enum mxb_xmpp_tls tls;
		char *ca_file; /* NULL: the system store */
		char *client_cert; /* with client_key: SASL EXTERNAL */
		char *client_key;
		char *status; /* "" */
		int reconnect_max; /* 60 s */
	} xmpp;

	struct {
		char *host; /* "localhost" */
		int port; /* 1883, or 8883 with TLS */
		int version; /* 5 or 3 (3.1.1) */
		char *client_id; /* "mqtt-xmpp-bridge" */
		char *username;
		char *password;
		int keepalive; /* 60 s */
		char *status_topic; /* "mqtt-xmpp-bridge/status" */
		bool tls; /* true when the tls group is present */
		char *ca_file; /* NULL: the system store */
		char *cert_file;
		char *key_file;
		int reconnect_max; /* 60 s */
	} mqtt;

	struct mxb_notify_route *notify;
	size_t notify_len;
	struct mxb_command_route *commands;
	size_t commands_len;
};

/*
 * Loads path into cfg (which the caller owns; release with mxb_config_finish). Returns 0,
 * or -EINVAL with every error appended to errors as "file:line: message" strings (the
 * caller frees them with mxb_strlist_finish). Reads password files; a file that cannot be
 * read is an error at the line naming it.
 */
int mxb_config_load(struct mxb_config *cfg, const char *path, struct mxb_strlist *errors);
void mxb_config_finish(struct mxb_config *cfg);

/* Writes what was found, as --check-config shows it; secrets are shown as "(set)". */
void mxb_config_print(const struct mxb_config *cfg, FILE *out);

/* Appends a copy of s. Returns 0 or -ENOMEM. */
int mxb_strlist_push(struct mxb_strlist *list, const char *s);
void mxb_strlist_finish(struct mxb_strlist *list);

#endif
