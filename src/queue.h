#ifndef MXB_QUEUE_H
#define MXB_QUEUE_H

/*
 * A bounded FIFO of owned pointers. When full, pushing drops the oldest entry, which is
 * handed back to the caller to count, log and free.
 */

#include <stdbool.h>
#include <stddef.h>

struct mxb_queue {
	void **items;
	size_t cap, head, len;
};

int mxb_queue_init(struct mxb_queue *q, size_t cap);
/* Frees the ring, calling free_fn on each item still held. */
void mxb_queue_finish(struct mxb_queue *q, void (*free_fn)(void *));
/* Appends item. Returns the oldest item when it had to make room, else NULL. */
void *mxb_queue_push(struct mxb_queue *q, void *item);
/*
 * Puts item in front, as the oldest. When full nothing is added and item is handed back
 * (being the oldest, it is the one to drop), else NULL.
 */
void *mxb_queue_push_front(struct mxb_queue *q, void *item);
/*
 * Gives the queue room for cap items, keeping their order; when it holds more, the oldest
 * are handed to drop first. Returns 0 or -ENOMEM (then nothing changed).
 */
int mxb_queue_resize(
	struct mxb_queue *q, size_t cap, void (*drop)(void *item, void *data), void *data);
/* Removes and returns the oldest item, or NULL when empty. */
void *mxb_queue_pop(struct mxb_queue *q);
/* The oldest item without removing it, or NULL. */
void *mxb_queue_peek(const struct mxb_queue *q);

#endif
