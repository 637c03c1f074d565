#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int mxb_strlist_take(struct mxb_strlist *list, char *s)
{
	/* One spare slot keeps v NULL-terminated. */
	char **v = realloc(list->v, (list->len + 2) * sizeof(*v));
	if (!v) {
		free(s);
		return -ENOMEM;
	}
	v[list->len++] = s;
	v[list->len] = NULL;
	list->v = v;
	return 0;
}

int mxb_strlist_push(struct mxb_strlist *list, const char *s)
{
	char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	return mxb_strlist_take(list, copy);
}

void mxb_strlist_finish(struct mxb_strlist *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->len; i++)
		free(list->v[i]);
	free(list->v);
	list->v = NULL;
	list->len = 0;
}
