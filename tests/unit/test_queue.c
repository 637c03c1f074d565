#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "queue.h"

static int freed;

static void count_free(void *p)
{
	(void)p;
	freed++;
}

int main(void)
{
	struct mxb_queue q;
	int items[10];
	CHECK(mxb_queue_init(&q, 3) == 0);
	CHECK(mxb_queue_pop(&q) == NULL);
	CHECK(mxb_queue_push(&q, &items[0]) == NULL);
	CHECK(mxb_queue_push(&q, &items[1]) == NULL);
	CHECK(mxb_queue_push(&q, &items[2]) == NULL);
	/* Full: the oldest is handed back. */
	CHECK(mxb_queue_push(&q, &items[3]) == &items[0]);
	CHECK(q.len == 3);
	CHECK(mxb_queue_peek(&q) == &items[1]);
	CHECK(mxb_queue_pop(&q) == &items[1]);
	CHECK(mxb_queue_pop(&q) == &items[2]);
	CHECK(mxb_queue_push(&q, &items[4]) == NULL);
	CHECK(mxb_queue_pop(&q) == &items[3]);
	CHECK(mxb_queue_pop(&q) == &items[4]);
	CHECK(mxb_queue_pop(&q) == NULL);
	CHECK(mxb_queue_push(&q, &items[5]) == NULL);
	CHECK(mxb_queue_push(&q, &items[6]) == NULL);
	mxb_queue_finish(&q, count_free);
	CHECK(freed == 2);
	return check_report("queue");
}
