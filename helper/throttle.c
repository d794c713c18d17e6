/*
 * throttle.c — failed attempts per key (a client id, a user, a peer) make the next
 * attempts wait: after 5 failures the key is blocked for 2^(failures-5) seconds, at most
 * 300. A success clears it. A fixed table of buckets, so memory stays bounded whatever an
 * attacker sends; a hash collision only makes two keys share a bucket.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "potd.h"

#define BUCKETS		4096
#define FREE_FAILS	5
#define MAX_WAIT	300
#define FORGET_AFTER	900	/* seconds without a failure */

struct bucket {
	unsigned fails;
	int64_t last;
	int64_t until;
};

struct potd_throttle {
	pthread_mutex_t lock;
	unsigned char salt[16];
	struct bucket b[BUCKETS];
};

struct potd_throttle *
potd_throttle_new(void)
{
	struct potd_throttle *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	if (RAND_bytes(t->salt, sizeof(t->salt)) != 1) {
		free(t);
		return NULL;
	}
	return t;
}

void
potd_throttle_free(struct potd_throttle *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* FNV-1a over a random salt and the key: cheap, and not predictable from outside. */
static struct bucket *
bucket_of(struct potd_throttle *t, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < sizeof(t->salt); i++)
		h = (h ^ t->salt[i]) * 0x100000001b3ULL;
	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 0x100000001b3ULL;
	return &t->b[h % BUCKETS];
}

unsigned
potd_throttle_check(struct potd_throttle *t, const char *key, int64_t now)
{
	struct bucket *b;
	unsigned wait = 0;

	pthread_mutex_lock(&t->lock);
	b = bucket_of(t, key);
	if (b->fails != 0 && now - b->last > FORGET_AFTER)
		memset(b, 0, sizeof(*b));
	if (b->until > now)
		wait = (unsigned)(b->until - now);
	pthread_mutex_unlock(&t->lock);
	return wait;
}

void
potd_throttle_fail(struct potd_throttle *t, const char *key, int64_t now)
{
	struct bucket *b;
	unsigned shift;

	pthread_mutex_lock(&t->lock);
	b = bucket_of(t, key);
	b->fails++;
	b->last = now;
	if (b->fails >= FREE_FAILS) {
		shift = b->fails - FREE_FAILS;
		b->until = now + (shift >= 9 ? MAX_WAIT : (1 << shift) < MAX_WAIT ? (1 << shift) : MAX_WAIT);
	}
	pthread_mutex_unlock(&t->lock);
}

void
potd_throttle_ok(struct potd_throttle *t, const char *key)
{
	pthread_mutex_lock(&t->lock);
	memset(bucket_of(t, key), 0, sizeof(struct bucket));
	pthread_mutex_unlock(&t->lock);
}
