/*
 * names.c - interning of span names and attribute keys.
 *
 * Design: a call site of sp_begin/sp_attr_* (through the macros in
 * spanprof.h) owns a static sp_site_ that caches the interned id of the
 * first name pointer it sees, once that pointer is known to lie in a
 * read-only segment of a loaded ELF object (a literal, whose bytes cannot
 * change); the hot path then compares one pointer. The site also remembers
 * the last pointer it saw in writable memory (a reused buffer), whose name
 * is then recorded inline without taking any lock: correct every time.
 * Everything else is the slow path, under one mutex: a pointer -> id
 * table for strings seen before (sites whose name varies among literals;
 * id 0 marks a writable pointer), and a content -> id table, which also
 * emits each new string's STRING record before its id is handed out, so
 * the definition precedes every use in the log.
 *
 * Caveat: a pointer -> id entry outlives a dlclose()d library; a new
 * library mapped at the same address with a different literal there would
 * be recorded under the old name. Programs that unload and reload
 * instrumented libraries should restart the runtime.
 *
 * Threading: thread-safe (one mutex, held across fork). Not signal-safe.
 */
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "tracer_int.h"

typedef struct trc_str_slot {
	uint64_t hash;
	uint32_t id; /* 0 = empty */
	uint32_t len;
	char *bytes;
} trc_str_slot;

typedef struct trc_ptr_slot {
	const char *ptr; /* NULL = empty */
	uint32_t id;
} trc_ptr_slot;

/* Bound on the pointer table: writable names at ever new addresses (stack
 * buffers) must not grow it without limit. */
#define TRC_MAX_KNOWN_PTRS (1u << 16)

static pthread_mutex_t trc_intern_mu = PTHREAD_MUTEX_INITIALIZER;
static trc_str_slot *trc_strs; /* open addressing, power-of-two size */
static uint32_t trc_strs_cap;  /* slots */
static uint32_t trc_strs_used; /* = last id handed out */
static trc_ptr_slot *trc_ptrs;
static uint32_t trc_ptrs_cap, trc_ptrs_used;

TRC_HIDDEN uint32_t trc_name_len(const char *s)
{
	return (uint32_t)strnlen(s, LC_MAX_STRING_BYTES - 1);
}

static uint64_t trc_hash_bytes(const char *s, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * UINT64_C(0x100000001b3);
	return h;
}

static uint64_t trc_hash_ptr(const void *p)
{
	uint64_t h = (uint64_t)(uintptr_t)p * UINT64_C(0x9e3779b97f4a7c15);
	return h ^ (h >> 29);
}

static void trc_emit_string(uint32_t id, const char *s, uint32_t len)
{
	lc_record rec;
	memset(&rec, 0, sizeof rec);
	rec.type = LC_REC_STRING;
	rec.u.string.id = id;
	rec.u.string.len = len;
	rec.u.string.bytes = s;
	lc_log_meta(&rec, 1);
}

static int trc_strs_grow(void)
{
	uint32_t cap = trc_strs_cap ? trc_strs_cap * 2 : 256;
	trc_str_slot *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return -1;
	for (uint32_t i = 0; i < trc_strs_cap; i++) {
		if (!trc_strs[i].id)
			continue;
		uint32_t j = (uint32_t)trc_strs[i].hash & (cap - 1);
		while (slots[j].id)
			j = (j + 1) & (cap - 1);
		slots[j] = trc_strs[i];
	}
	free(trc_strs);
	trc_strs = slots;
	trc_strs_cap = cap;
	return 0;
}

/* Caller holds trc_intern_mu. */
static uint32_t trc_intern_locked(const char *s, uint32_t len)
{
	if (trc_strs_used * 2 >= trc_strs_cap && trc_strs_grow() != 0)
		return 0;
	uint64_t hash = trc_hash_bytes(s, len);
	uint32_t j = (uint32_t)hash & (trc_strs_cap - 1);
	for (; trc_strs[j].id; j = (j + 1) & (trc_strs_cap - 1)) {
		trc_str_slot *e = &trc_strs[j];
		if (e->hash == hash && e->len == len && memcmp(e->bytes, s, len) == 0)
			return e->id;
	}
	char *copy = malloc(len + 1u);
	if (!copy)
		return 0;
	memcpy(copy, s, len);
	copy[len] = '\0';
	trc_strs[j] = (trc_str_slot){hash, ++trc_strs_used, len, copy};
	trc_emit_string(trc_strs[j].id, copy, len);
	return trc_strs[j].id;
}

TRC_HIDDEN uint32_t trc_intern(const char *s, size_t len)
{
	if (len >= LC_MAX_STRING_BYTES)
		len = LC_MAX_STRING_BYTES - 1;
	pthread_mutex_lock(&trc_intern_mu);
	uint32_t id = trc_intern_locked(s, (uint32_t)len);
	pthread_mutex_unlock(&trc_intern_mu);
	return id;
}

/* Caller holds trc_intern_mu. */
static trc_ptr_slot *trc_ptr_find(const char *p)
{
	if (!trc_ptrs_cap)
		return NULL;
	uint32_t j = (uint32_t)trc_hash_ptr(p) & (trc_ptrs_cap - 1);
	for (; trc_ptrs[j].ptr; j = (j + 1) & (trc_ptrs_cap - 1)) {
		if (trc_ptrs[j].ptr == p)
			return &trc_ptrs[j];
	}
	return NULL;
}

/* Caller holds trc_intern_mu. Best effort: a full table just means misses. */
static void trc_ptr_add(const char *p, uint32_t id)
{
	if (trc_ptrs_used >= TRC_MAX_KNOWN_PTRS)
		return;
	if (trc_ptrs_used * 2 >= trc_ptrs_cap) {
		uint32_t cap = trc_ptrs_cap ? trc_ptrs_cap * 2 : 256;
		trc_ptr_slot *slots = calloc(cap, sizeof *slots);
		if (!slots)
			return;
		for (uint32_t i = 0; i < trc_ptrs_cap; i++) {
			if (!trc_ptrs[i].ptr)
				continue;
			uint32_t j = (uint32_t)trc_hash_ptr(trc_ptrs[i].ptr) & (cap - 1);
			while (slots[j].ptr)
				j = (j + 1) & (cap - 1);
			slots[j] = trc_ptrs[i];
		}
		free(trc_ptrs);
		trc_ptrs = slots;
		trc_ptrs_cap = cap;
	}
	uint32_t j = (uint32_t)trc_hash_ptr(p) & (trc_ptrs_cap - 1);
	while (trc_ptrs[j].ptr)
		j = (j + 1) & (trc_ptrs_cap - 1);
	trc_ptrs[j] = (trc_ptr_slot){p, id};
	trc_ptrs_used++;
}

struct trc_ro_query {
	uintptr_t addr, end;
	int readonly;
};

static int trc_ro_visit(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct trc_ro_query *q = arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (q->addr >= lo && q->end <= lo + ph->p_filesz) {
			q->readonly = !(ph->p_flags & PF_W);
			return 1;
		}
	}
	return 0;
}

/* Whether [s, s+len] lies in a read-only, file-backed segment of a loaded
 * object: then its bytes never change while the object stays loaded. */
static int trc_is_readonly(const char *s, size_t len)
{
	struct trc_ro_query q = {(uintptr_t)s, (uintptr_t)s + len + 1, 0};
	dl_iterate_phdr(trc_ro_visit, &q);
	return q.readonly;
}

TRC_HIDDEN uint32_t trc_site_resolve(sp_site_ *site, const char *name)
{
	int saved_errno = errno;
	uint32_t len = trc_name_len(name);
	pthread_mutex_lock(&trc_intern_mu);
	uint32_t id = 0;
	trc_ptr_slot *known = trc_ptr_find(name);
	if (known) {
		id = known->id; /* 0: known writable, record inline */
	} else if (name[len] == '\0' && trc_is_readonly(name, len)) {
		id = trc_intern_locked(name, len);
		if (id)
			trc_ptr_add(name, id);
	} else {
		trc_ptr_add(name, 0);
	}
	if (id && site && !site->ptr) {
		site->id = id;
		__atomic_store_n(&site->ptr, name, __ATOMIC_RELEASE);
	}
	if (!id && site)
		__atomic_store_n(&site->wptr, name, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&trc_intern_mu);
	errno = saved_errno;
	return id;
}

TRC_HIDDEN void trc_intern_atfork_prepare(void)
{
	pthread_mutex_lock(&trc_intern_mu);
}

TRC_HIDDEN void trc_intern_atfork_parent(void)
{
	pthread_mutex_unlock(&trc_intern_mu);
}

TRC_HIDDEN void trc_intern_atfork_child(void)
{
	pthread_mutex_init(&trc_intern_mu, NULL);
}
