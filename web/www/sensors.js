/*
 * The seam for sensor values from pubsub (XEP-0060). The bridge does not publish sensor
 * nodes yet, so nothing calls this with real data and the page shows no sensor values;
 * nothing here makes any up either.
 *
 * When the bridge publishes them, dashboard.js subscribes to the nodes (and fetches
 * <items max_items='1'/> after subscribing and after every reconnect: Prosody does not
 * send the last item by itself) and hands every item here:
 *
 *     mxbSensors.takeItems(deviceJid, node, items, tile)
 *
 * deviceJid  the bare JID of the device the node belongs to
 * node       the pubsub node's name
 * items      the <item/> DOM elements of a result or of a pubsub#event notification,
 *            newest last
 * tile       the device's tile element (its .sensors box is where values go), or null
 *            when the device has no tile
 *
 * It returns the number of values it shows. The format of an item's payload is for the
 * bridge to define; until it does, items are counted and ignored.
 */
window.mxbSensors = (function () {
	"use strict";

	function takeItems(deviceJid, node, items, tile) {
		void deviceJid;
		void node;
		void items;
		void tile;
		return 0;
	}

	return { takeItems: takeItems };
})();
