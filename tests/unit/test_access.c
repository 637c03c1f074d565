#include <string.h>

#include "access.h"
#include "check.h"

static char *from_alice_domain[] = {"alice@example.org", "*@family.example"};
static char *from_room[] = {"family@muc.example.org"};

int main(void)
{
	CHECK(mxb_access_jid_matches("alice@example.org", "alice@example.org"));
	CHECK(mxb_access_jid_matches("alice@example.org", "ALICE@Example.org"));
	CHECK(!mxb_access_jid_matches("alice@example.org", "alice@example.org.evil"));
	CHECK(!mxb_access_jid_matches("alice@example.org", "bob@example.org"));
	CHECK(mxb_access_jid_matches("*@family.example", "bob@family.example"));
	CHECK(mxb_access_jid_matches("*@family.example", "bob@FAMILY.example"));
	CHECK(!mxb_access_jid_matches("*@family.example", "bob@evil-family.example"));
	CHECK(!mxb_access_jid_matches("*@family.example", "bob@sub.family.example"));
	CHECK(!mxb_access_jid_matches("*@family.example", "family.example"));

	struct mxb_command_route direct = {
		.from = {.v = from_alice_domain, .len = 2},
	};
	struct mxb_sender alice = {.jid = "alice@example.org"};
	struct mxb_sender carol = {.jid = "carol@family.example"};
	struct mxb_sender mallory = {.jid = "mallory@example.org"};
	struct mxb_sender nobody = {0};
	CHECK(mxb_access_allows(&direct, &alice));
	CHECK(mxb_access_allows(&direct, &carol));
	CHECK(!mxb_access_allows(&direct, &mallory));
	CHECK(!mxb_access_allows(&direct, &nobody));

	/* An occupant of a room is never taken for its real JID by a direct route. */
	struct mxb_sender alice_in_room = {.jid = "alice@example.org",
		.room = "family@muc.example.org",
		.nick = "alice",
		.role = MXB_ROLE_MODERATOR,
		.affiliation = MXB_AFFILIATION_OWNER};
	CHECK(!mxb_access_allows(&direct, &alice_in_room));

	struct mxb_command_route by_role = {
		.rooms = {.v = from_room, .len = 1},
		.has_role = true,
		.role = MXB_ROLE_PARTICIPANT,
	};
	struct mxb_sender visitor = {.room = "family@muc.example.org",
		.nick = "v",
		.role = MXB_ROLE_VISITOR,
		.affiliation = MXB_AFFILIATION_NONE};
	struct mxb_sender participant = visitor;
	participant.role = MXB_ROLE_PARTICIPANT;
	struct mxb_sender elsewhere = participant;
	elsewhere.room = "other@muc.example.org";
	CHECK(!mxb_access_allows(&by_role, &visitor));
	CHECK(mxb_access_allows(&by_role, &participant));
	CHECK(mxb_access_allows(&by_role, &alice_in_room));
	CHECK(!mxb_access_allows(&by_role, &elsewhere));
	/* A direct message from the room's bare JID is not an occupant with rights. */
	struct mxb_sender room_itself = {.jid = "family@muc.example.org"};
	CHECK(!mxb_access_allows(&by_role, &room_itself));

	struct mxb_command_route by_affiliation = {
		.rooms = {.v = from_room, .len = 1},
		.has_affiliation = true,
		.affiliation = MXB_AFFILIATION_MEMBER,
	};
	struct mxb_sender member = participant;
	member.affiliation = MXB_AFFILIATION_MEMBER;
	CHECK(!mxb_access_allows(&by_affiliation, &participant));
	CHECK(mxb_access_allows(&by_affiliation, &member));

	struct mxb_command_route both = by_role;
	both.has_affiliation = true;
	both.affiliation = MXB_AFFILIATION_ADMIN;
	CHECK(!mxb_access_allows(&both, &member));
	CHECK(mxb_access_allows(&both, &alice_in_room));

	/* A room route without role or affiliation lets no occupant in. */
	struct mxb_command_route bare_room = {.rooms = {.v = from_room, .len = 1}};
	CHECK(!mxb_access_allows(&bare_room, &alice_in_room));

	CHECK(mxb_access_role_parse("moderator") == MXB_ROLE_MODERATOR);
	CHECK(mxb_access_role_parse("king") == -1);
	CHECK(mxb_access_affiliation_parse("owner") == MXB_AFFILIATION_OWNER);
	CHECK(mxb_access_affiliation_parse(NULL) == -1);
	return check_report("access");
}
