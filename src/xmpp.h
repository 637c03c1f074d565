#ifndef MXB_XMPP_H
#define MXB_XMPP_H

/*
 * The XMPP side: one libstrophe client connection driven from the main poll loop,
 * reconnecting on its own with backoff. The rest of the bridge sees plain structs only.
 */

#include <stdbool.h>
#include <stdint.h>

struct mxb_adhoc_handlers;
struct mxb_adhoc_response;
struct mxb_config;
struct mxb_geoloc;
struct mxb_xmpp;

struct mxb_xmpp_message {
	const char *from; /* full JID as the server stamped it */
	const char *type; /* "chat", "normal", "groupchat" */
	const char *id; /* may be NULL */
	const char *body;
	/* Set when the sender is an occupant of one of the bridge's rooms: */
	const char *room; /* bare room JID */
	const char *nick;
	const char *own_nick; /* the bridge's nick in the room now (maybe an alternate) */
	const char *real_jid; /* the occupant's bare JID when the room shows it, else NULL */
	int role; /* enum mxb_muc_role */
	int affiliation; /* enum mxb_muc_affiliation */
};

struct mxb_xmpp_presence {
	const char *from; /* full JID as the server stamped it */
	bool available; /* false: type "unavailable" */
	const char *show; /* may be NULL */
	const char *status; /* may be NULL */
	int priority; /* -128..127 */
	/* The bridge's roster says subscription "to" or "both": it may see this presence. */
	bool subscribed;
};

struct mxb_xmpp_handlers {
	/* The session is established: roster requested, initial presence sent. */
	void (*online)(void *data);
	/* The session ended; stream_error tells whether the server closed it with an error. */
	void (*offline)(bool stream_error, void *data);
	/*
	 * The server acknowledged (XEP-0198) every message sent with a sequence number up to h
	 * (compare with wrap-around: (int32_t)(h - seq) >= 0).
	 */
	void (*acked)(uint32_t h, void *data);
	/* A chat or normal message with a body from someone other than the bridge itself. */
	void (*message)(const struct mxb_xmpp_message *msg, void *data);
	/* Whether jid (bare) may subscribe to the bridge's presence. */
	bool (*contact_allowed)(const char *jid, void *data);
	/* The bridge's presence in a room was confirmed: it may talk there now. */
	void (*room_joined)(const char *room, void *data);
	/* Presence from anyone but the bridge's own account and its rooms. */
	void (*contact_presence)(const struct mxb_xmpp_presence *p, void *data);
	/* Ad-hoc commands (XEP-0050), adhoc_form.h; NULL: none offered. */
	const struct mxb_adhoc_handlers *adhoc;
	/*
	 * A contact's user location (XEP-0080, a PEP event or the last item fetched) from bare:
	 * g is a position or empty ("no location"); why is NULL, or says why the geoloc was
	 * refused (then g is empty and must not be published). May be NULL.
	 */
	void (*contact_geoloc)(
		const char *bare, const struct mxb_geoloc *g, const char *why, void *data);
	/* A roster item: its name (NULL: none), or removed. May be NULL. */
	void (*contact_roster)(const char *bare, const char *name, bool removed, void *data);
	/*
	 * With mqtt.share_group: this instance began or ceased to lead the account's
	 * instances (mxb_xmpp_leads). May be NULL.
	 */
	void (*leading)(bool leads, void *data);
};

int mxb_xmpp_create(struct mxb_xmpp **out, const struct mxb_config *cfg,
	const struct mxb_xmpp_handlers *handlers, void *data);
void mxb_xmpp_destroy(struct mxb_xmpp *x);

void mxb_xmpp_start(struct mxb_xmpp *x, int64_t now);
/*
 * After a reload put new values in the config x reads (changes: enum mxb_reload_change):
 * takes the new strings, joins and leaves rooms, tells the new status, and reconnects when
 * the connection settings changed (what was in flight is resent, as after any loss).
 * Returns 0 or a negative errno (then the rooms are as before).
 */
int mxb_xmpp_reconfigure(struct mxb_xmpp *x, unsigned changes, int64_t now);
/* Asks the server for the presence of every contact who shares it (probes). */
void mxb_xmpp_probe_contacts(struct mxb_xmpp *x);

/* The socket to poll (-1 when none) and the events to wait for. */
int mxb_xmpp_fd(const struct mxb_xmpp *x);
short mxb_xmpp_events(const struct mxb_xmpp *x);
/* The batches the session wrote since the start (each one TLS record, one write or so). */
uint64_t mxb_xmpp_batches(const struct mxb_xmpp *x);
/* Runs libstrophe until it stops making progress. Call after every poll, ready or not. */
void mxb_xmpp_handle(struct mxb_xmpp *x, short revents, int64_t now);
/* Timers: reconnect, ping, shutdown. Returns the next deadline (ms). */
int64_t mxb_xmpp_tick(struct mxb_xmpp *x, int64_t now);

bool mxb_xmpp_is_up(const struct mxb_xmpp *x);
/*
 * Whether this instance tells the devices' presence for the account's instances: always
 * without mqtt.share_group; with it, once the server has told the others' presence, when
 * its component is up and no other with its component up comes before it (the highest
 * xmpp.priority, then the resource first byte by byte).
 */
bool mxb_xmpp_leads(const struct mxb_xmpp *x);
/* The component of this instance came up or went down: the other instances are told. */
void mxb_xmpp_set_devices(struct mxb_xmpp *x, bool up);
/* How many other instances of the account the session sees. */
size_t mxb_xmpp_peers_len(const struct mxb_xmpp *x);

/*
 * Sends a message; to a room of the config it goes as groupchat whatever type says. body
 * must be XML-safe text (mxb_text_xml_valid): the bridge checks or sanitizes every body once,
 * where it decides between replacing and refusing, so it is not checked again here.
 * Returns 0; -ENOTCONN while the session is down or -EAGAIN while the room is not joined
 * yet (the caller keeps it); -EHOSTUNREACH when the room refused the bridge. id becomes the
 * stanza id and its XEP-0359 origin-id, so a message sent again can be recognized. *seq is
 * the number the server's XEP-0198 acks will count, or 0 when the session has no acks
 * (then the message is as delivered as it will ever be once written).
 */
int mxb_xmpp_send_message(struct mxb_xmpp *x, const char *to, const char *type, const char *body,
	const char *id, uint32_t *seq);
/*
 * A type ending in this ("chat+oob") sends body, a URL, with <x xmlns='jabber:x:oob'>
 * <url>body</url></x> too (XEP-0066), as clients want it to show a picture inline. The
 * mark travels in the type, so the outbox and its journal keep it as they keep any type.
 */
#define MXB_XMPP_OOB "+oob"
/* The session, for the session files that add requests of their own (upload_slot.c). */
struct mxb_session;
struct mxb_session *mxb_xmpp_session(struct mxb_xmpp *x);
/* Answers the message `id` from `to` with a message error <forbidden/> and text. */
int mxb_xmpp_send_forbidden(struct mxb_xmpp *x, const char *to, const char *id, const char *text);

/*
 * Answers an ad-hoc command whose handler said the answer comes later (token). Returns 0,
 * -ENOENT when it is no longer waited for (the session ended since), or another errno.
 */
int mxb_xmpp_adhoc_answer(struct mxb_xmpp *x, uint32_t token, const struct mxb_adhoc_response *r);

/* Sends unavailable presence and stays connected, to drain what is in flight. */
void mxb_xmpp_leave(struct mxb_xmpp *x);
/* Whether the server answered after taking the bridge for unavailable (or the session ended). */
bool mxb_xmpp_has_left(const struct mxb_xmpp *x);
/* Sends unavailable presence and closes the stream; mxb_xmpp_is_closed() tells when done. */
void mxb_xmpp_shutdown(struct mxb_xmpp *x, int64_t now);
bool mxb_xmpp_is_closed(const struct mxb_xmpp *x);

#endif
