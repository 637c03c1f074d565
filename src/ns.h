#ifndef MXB_NS_H
#define MXB_NS_H

/* The XML namespaces the session files speak, spelled once. */

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_PING "urn:xmpp:ping"
/* In the presence of an instance of a share group: whether its component is up (peers.h). */
#define NS_MXB_INSTANCE "urn:x-mqtt-xmpp-bridge:instance:0"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_VERSION "jabber:iq:version"
#define NS_VCARD "vcard-temp"
#define NS_ROSTER "jabber:iq:roster"
#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_DATA "jabber:x:data"
#define NS_DELAY "urn:xmpp:delay"
#define NS_SM "urn:xmpp:sm:3"
#define NS_SID "urn:xmpp:sid:0"

#endif
