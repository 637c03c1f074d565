#include <errno.h>
#include <stdlib.h>

#include "queue.h"

int mxb_queue_init(struct mxb_queue *q, size_t cap)
{
	q->items = calloc(cap ? cap : 1, sizeof(*q->items));
	if (!q->items)
		return -ENOMEM;
	q->cap = cap ? cap : 1;
	q->head = q->len = 0;
	return 0;
}

void mxb_queue_finish(struct mxb_queue *q, void (*free_fn)(void *))
{
	void *item;
	while ((item = mxb_queue_pop(q)) != NULL)
		free_fn(item);
	free(q->items);
	q->items = NULL;
}

void *mxb_queue_push(struct mxb_queue *q, void *item)
{
	void *dropped = NULL;
	if (q->len == q->cap)
		dropped = mxb_queue_pop(q);
	q->items[(q->head + q->len) % q->cap] = item;
	q->len++;
	return dropped;
}

void *mxb_queue_push_front(struct mxb_queue *q, void *item)
{
	if (q->len == q->cap)
		return item;
	q->head = (q->head + q->cap - 1) % q->cap;
	q->items[q->head] = item;
	q->len++;
	return NULL;
}

void *mxb_queue_pop(struct mxb_queue *q)
{
	if (q->len == 0)
		return NULL;
	void *item = q->items[q->head];
	q->head = (q->head + 1) % q->cap;
	q->len--;
	return item;
}

void *mxb_queue_peek(const struct mxb_queue *q)
{
	return q->len ? q->items[q->head] : NULL;
}

int mxb_queue_resize(
	struct mxb_queue *q, size_t cap, void (*drop)(void *item, void *data), void *data)
{
	cap = cap ? cap : 1;
	void **items = calloc(cap, sizeof(*items));
	if (!items)
		return -ENOMEM;
	while (q->len > cap)
		drop(mxb_queue_pop(q), data);
	for (size_t i = 0; i < q->len; i++)
		items[i] = q->items[(q->head + i) % q->cap];
	free(q->items);
	q->items = items;
	q->cap = cap;
	q->head = 0;
	return 0;
}
