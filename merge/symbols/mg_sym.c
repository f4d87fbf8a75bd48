/*
 * mg_sym.c - see mg_sym.h.
 *
 * One Dwfl session per distinct file, with the file reported at bias 0, so
 * that every address we look up is the file's own ELF virtual address and
 * the cache (module, address) -> frames is shared by all processes that
 * mapped the file, whatever their load addresses. For a return address
 * (non-leaf frame) we look up pc - 1, which lies inside the call instruction
 * and so yields the caller's line, not the line after the call.
 *
 * A (module, address) not seen yet in this merge is looked up in the
 * module's persistent cache (mg_symcache.h, keyed by the file's build-id),
 * else resolved by mg_symdwarf.h (DWARF with inlined frames, the symbol
 * table, each unit walked once) and added to the cache; the fallback name
 * "basename+0x..." is made here, after the cache, because it depends on
 * the path, which the build-id does not fix.
 *
 * The vDSO has no file. Its recorded module "[vdso]" carries the build-id
 * of the image the kernel mapped into the traced process; merge maps its
 * own process's vDSO (getauxval(AT_SYSINFO_EHDR): the same kernel gives
 * the same image, byte for byte) and, when the build-ids match, reads its
 * .dynsym from a copy of those bytes in a memfd. A different kernel (a log
 * merged on another machine, or after a reboot into another kernel), or no
 * recorded build-id, keeps "[vdso]+0x..." rather than risk wrong names.
 * See docs/sampling.md, "Modules", for why not an image in the log.
 *
 * Threading: single-threaded (one mg_sym per merge).
 */
#include "mg_sym.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mg_err.h"
#include "mg_grow.h"
#include "mg_hash.h"
#include "mg_symcache.h"
#include "mg_symdwarf.h"
#include "spanprof.h"

typedef struct mg_module {
	char *path;
	const char *base; /* basename inside path */
	char build_id_hex[2 * LC_MAX_BUILD_ID_BYTES + 1];
	Dwfl *dwfl;
	Dwfl_Module *mod; /* NULL if the file could not be used */
	int64_t module_id;
	char file_bid_hex[2 * LC_MAX_BUILD_ID_BYTES + 1]; /* of the file read */
	mg_symdwarf *dwarf;                               /* on first lookup */
	mg_symcache *cache;                               /* on first lookup, if the cache is on */
	int cache_tried;
} mg_module;

typedef struct mg_mapping {
	uint64_t start, end;
	uint64_t delta; /* address in the module = pc + delta (mod 2^64) */
	size_t module;  /* index in mg_sym.modules */
} mg_mapping;

struct mg_sym {
	sqlite3 *db;
	sqlite3_stmt *ins_frame, *ins_module, *ins_mapping;
	mg_module *modules;
	size_t n_modules, cap_modules;
	mg_hash cache; /* (module index + 1, address) -> first_frame << 8 | count */
	int64_t next_frame_id;
	int quiet;
	int cache_off;       /* merge --no-cache */
	int cache_dir_state; /* 0 not looked up, 1 cache_dir usable, -1 none */
	char cache_dir[PATH_MAX];
	mg_progress *progress;
	uint64_t lookups, cache_hits;
};

struct mg_sym_proc {
	mg_sym *sym;
	uint32_t pid;
	mg_mapping *maps; /* sorted by start */
	size_t n_maps, cap_maps;
};

static const Dwfl_Callbacks mg_dwfl_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

mg_sym *mg_sym_new(sqlite3 *db, int quiet)
{
	mg_sym *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->db = db;
	s->quiet = quiet;
	s->next_frame_id = 1;
	sqlite3_prepare_v2(db, "INSERT INTO frames VALUES(?,?,?,?,?,?,?)", -1, &s->ins_frame, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO modules VALUES(?,?,?,?,?)", -1, &s->ins_module, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO mappings VALUES(?,?,?,?,?,?)", -1, &s->ins_mapping,
	                   NULL);
	if (!s->ins_frame || !s->ins_module || !s->ins_mapping) {
		mg_err_set(-SP_EIO, "database error: %s", sqlite3_errmsg(db));
		mg_sym_free(s);
		return NULL;
	}
	return s;
}

void mg_sym_set_cache(mg_sym *s, int on)
{
	s->cache_off = !on;
}

void mg_sym_set_progress(mg_sym *s, mg_progress *progress)
{
	s->progress = progress;
}

void mg_sym_stats(const mg_sym *s, uint64_t *lookups, uint64_t *cache_hits)
{
	*lookups = s->lookups;
	*cache_hits = s->cache_hits;
}

/* Writes the symbol caches that changed. A cache that cannot be written
 * costs the next merge time, not this one its result: not an error. */
int mg_sym_finish(mg_sym *s)
{
	for (size_t i = 0; i < s->n_modules; i++) {
		mg_symcache_close(s->modules[i].cache);
		s->modules[i].cache = NULL;
	}
	return 0;
}

void mg_sym_free(mg_sym *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_modules; i++) {
		mg_symdwarf_free(s->modules[i].dwarf);
		mg_symcache_close(s->modules[i].cache);
		if (s->modules[i].dwfl)
			dwfl_end(s->modules[i].dwfl);
		free(s->modules[i].path);
	}
	free(s->modules);
	mg_hash_free(&s->cache);
	sqlite3_finalize(s->ins_frame);
	sqlite3_finalize(s->ins_module);
	sqlite3_finalize(s->ins_mapping);
	free(s);
}

static void mg_hex(const uint8_t *bytes, uint32_t len, char *out)
{
	for (uint32_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", bytes[i]);
	out[2 * len] = 0;
}

/* Size of an ELF image in memory: its furthest header, table or segment.
 * The vDSO is mapped whole, section headers included. 0 if implausible. */
static size_t mg_elf_image_size(const ElfW(Ehdr) * eh)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_phentsize != sizeof(ElfW(Phdr)))
		return 0;
	size_t size = (size_t)eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_offset + ph[i].p_filesz > size)
			size = ph[i].p_offset + ph[i].p_filesz;
	return size <= 1u << 20 ? size : 0; /* a vDSO is a few pages */
}

/* A memfd holding this process's vDSO image, or -1. */
static int mg_vdso_fd(void)
{
	const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)getauxval(AT_SYSINFO_EHDR);
	size_t size = eh ? mg_elf_image_size(eh) : 0;
	if (size == 0)
		return -1;
	int fd = memfd_create("spanprof-vdso", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, eh, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reports the module's file (or, for "[vdso]", our own vDSO's bytes). */
static int mg_module_report(mg_module *m)
{
	int vdso = strcmp(m->path, "[vdso]") == 0;
	int fd = -1;
	if (vdso && (!m->build_id_hex[0] || (fd = mg_vdso_fd()) < 0))
		return -1;
	m->dwfl = dwfl_begin(&mg_dwfl_callbacks);
	if (!m->dwfl) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	dwfl_report_begin(m->dwfl);
	/* with an fd, libdwfl reads it and closes it at dwfl_end */
	m->mod = dwfl_report_elf(m->dwfl, m->base, m->path, fd, 0, true);
	dwfl_report_end(m->dwfl, NULL, NULL);
	return 0;
}

/* Our vDSO is another kernel's: symbols from it would be wrong. */
static const char *mg_vdso_mismatch(mg_module *m)
{
	dwfl_end(m->dwfl);
	m->dwfl = NULL;
	m->mod = NULL;
	return "pseudo (another kernel's vdso)";
}

/* Opens the file with libdwfl; returns the status text for the table. */
static const char *mg_module_open(mg_sym *s, mg_module *m, char *file_bid_hex)
{
	file_bid_hex[0] = 0;
	int vdso = strcmp(m->path, "[vdso]") == 0;
	if (m->path[0] != '/' && !vdso)
		return "pseudo"; /* [heap], anonymous */
	if (mg_module_report(m) != 0)
		return vdso ? "pseudo" : "unreadable";
	if (!m->mod) {
		if (!s->quiet)
			mg_warn("%s: %s; using module+offset", m->path, dwfl_errmsg(-1));
		return "missing";
	}
	GElf_Addr bias;
	const unsigned char *bits = NULL;
	GElf_Addr bid_vaddr;
	dwfl_module_getelf(m->mod, &bias);
	int len = dwfl_module_build_id(m->mod, &bits, &bid_vaddr);
	if (len > 0 && len <= (int)LC_MAX_BUILD_ID_BYTES)
		mg_hex(bits, (uint32_t)len, file_bid_hex);
	if (!m->build_id_hex[0])
		return "ok (no recorded build-id)";
	if (vdso && strcmp(file_bid_hex, m->build_id_hex))
		return mg_vdso_mismatch(m);
	if (strcmp(file_bid_hex, m->build_id_hex)) {
		if (!s->quiet)
			mg_warn("%s changed since recording (build-id %s, recorded %s); its "
			        "symbols may "
			        "be wrong",
			        m->path, file_bid_hex[0] ? file_bid_hex : "none", m->build_id_hex);
		return "build-id mismatch";
	}
	return "ok";
}

static int mg_module_insert(mg_sym *s, mg_module *m, const char *status, const char *file_bid)
{
	sqlite3_stmt *st = s->ins_module;
	sqlite3_bind_int64(st, 1, m->module_id);
	sqlite3_bind_text(st, 2, m->path, -1, SQLITE_STATIC);
	if (m->build_id_hex[0])
		sqlite3_bind_text(st, 3, m->build_id_hex, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	if (file_bid[0])
		sqlite3_bind_text(st, 4, file_bid, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_text(st, 5, status, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Finds or adds the module for a recorded path; returns its index or -1. */
static long mg_module_get(mg_sym *s, const lc_rec_module *rec)
{
	for (size_t i = 0; i < s->n_modules; i++)
		if (strlen(s->modules[i].path) == rec->path_len &&
		    !memcmp(s->modules[i].path, rec->path, rec->path_len))
			return (long)i;
	if (MG_GROW_ONE(s->modules, s->cap_modules, s->n_modules))
		return -1;
	mg_module *m = &s->modules[s->n_modules];
	memset(m, 0, sizeof *m);
	m->path = strndup(rec->path, rec->path_len);
	if (!m->path)
		return -1;
	const char *slash = strrchr(m->path, '/');
	m->base = slash ? slash + 1 : m->path;
	if (rec->build_id_len <= LC_MAX_BUILD_ID_BYTES)
		mg_hex(rec->build_id, rec->build_id_len, m->build_id_hex);
	m->module_id = (int64_t)s->n_modules + 1;
	s->n_modules++;
	char file_bid[2 * LC_MAX_BUILD_ID_BYTES + 1];
	const char *status = mg_module_open(s, m, file_bid);
	strcpy(m->file_bid_hex, file_bid);
	if (mg_module_insert(s, m, status, file_bid))
		return -1;
	return (long)(s->n_modules - 1);
}

mg_sym_proc *mg_sym_proc_new(mg_sym *s, uint32_t pid)
{
	mg_sym_proc *p = calloc(1, sizeof *p);
	if (p) {
		p->sym = s;
		p->pid = pid;
	}
	return p;
}

void mg_sym_proc_free(mg_sym_proc *p)
{
	if (!p)
		return;
	free(p->maps);
	free(p);
}

/* Address in the module of the mapping start: the PT_LOAD holding the
 * mapped file offset says which virtual address that offset has. Without
 * the file, addresses are file offsets. */
static uint64_t mg_mapping_delta(const mg_module *m, const lc_rec_module *rec)
{
	uint64_t fo = rec->file_offset;
	GElf_Addr bias;
	Elf *elf = m->mod ? dwfl_module_getelf(m->mod, &bias) : NULL;
	size_t n = 0;
	if (!elf || elf_getphdrnum(elf, &n) != 0)
		return fo - rec->start;
	int have_first = 0;
	uint64_t first_delta = 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		uint64_t align = ph.p_align ? ph.p_align : 1;
		uint64_t seg_fo = ph.p_offset & ~(align - 1);
		uint64_t vaddr_of_fo = ph.p_vaddr - ph.p_offset + fo;
		if (!have_first) {
			have_first = 1;
			first_delta = vaddr_of_fo - rec->start;
		}
		if (fo >= seg_fo && fo < ph.p_offset + ph.p_filesz)
			return vaddr_of_fo - rec->start;
	}
	return have_first ? first_delta : fo - rec->start;
}

static int mg_mapping_insert_row(mg_sym_proc *p, const mg_module *m, const lc_rec_module *rec,
                                 uint64_t ts_ns)
{
	sqlite3_stmt *st = p->sym->ins_mapping;
	sqlite3_bind_int64(st, 1, p->pid);
	sqlite3_bind_int64(st, 2, m->module_id);
	sqlite3_bind_int64(st, 3, (int64_t)rec->start);
	sqlite3_bind_int64(st, 4, (int64_t)rec->end);
	sqlite3_bind_int64(st, 5, (int64_t)rec->file_offset);
	sqlite3_bind_int64(st, 6, (int64_t)ts_ns);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int mg_sym_proc_map(mg_sym_proc *p, const lc_rec_module *rec, uint64_t ts_ns)
{
	if (rec->end <= rec->start || !rec->path_len)
		return 0;
	long mi = mg_module_get(p->sym, rec);
	if (mi < 0)
		return -1;
	if (MG_GROW_ONE(p->maps, p->cap_maps, p->n_maps))
		return -1;
	const mg_module *m = &p->sym->modules[mi];
	size_t at = p->n_maps;
	while (at > 0 && p->maps[at - 1].start > rec->start)
		at--;
	memmove(&p->maps[at + 1], &p->maps[at], (p->n_maps - at) * sizeof *p->maps);
	p->maps[at] = (mg_mapping){rec->start, rec->end, mg_mapping_delta(m, rec), (size_t)mi};
	p->n_maps++;
	return mg_mapping_insert_row(p, m, rec, ts_ns);
}

/* Latest-added mapping containing pc, or NULL. */
static const mg_mapping *mg_mapping_find(const mg_sym_proc *p, uint64_t pc)
{
	size_t lo = 0, hi = p->n_maps;
	while (lo < hi) { /* first mapping with start > pc */
		size_t mid = (lo + hi) / 2;
		if (p->maps[mid].start <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0;)
		if (pc < p->maps[i].end)
			return &p->maps[i];
	return NULL;
}

/* The persistent cache of a module file with a build-id (not the vDSO:
 * its symbols cost nothing), opened on first use; NULL if none. */
static mg_symcache *mg_module_cache(mg_sym *s, mg_module *m)
{
	if (m->cache_tried || s->cache_off || !m->file_bid_hex[0] || m->path[0] != '/')
		return m->cache;
	m->cache_tried = 1;
	if (!s->cache_dir_state)
		s->cache_dir_state =
		    mg_symcache_dir(s->cache_dir, sizeof s->cache_dir) == 0 ? 1 : -1;
	if (s->cache_dir_state > 0)
		m->cache = mg_symcache_open(s->cache_dir, m->file_bid_hex, m->path);
	return m->cache;
}

/* Frames of a module address: from the cache, else from DWARF or the
 * symbol table (and then into the cache). Returns >= 1, or -1 when
 * out of memory. */
static int mg_module_chain(mg_sym *s, mg_module *m, uint64_t addr, mg_frame_txt *out, int cap)
{
	mg_symcache *c = mg_module_cache(s, m);
	int k = c ? mg_symcache_get(c, addr, out, cap) : 0;
	s->lookups++;
	if (k > 0) {
		s->cache_hits++;
		return k;
	}
	if (!m->dwarf && !(m->dwarf = mg_symdwarf_new(m->mod, s->progress)))
		return -1;
	if (s->progress)
		mg_progress_update(s->progress,
		                   "symbolizing: %" PRIu64 " addresses (%" PRIu64
		                   " from the cache), %s",
		                   s->lookups, s->cache_hits, m->base);
	k = mg_symdwarf_chain(m->dwarf, addr, out, cap);
	if (c && mg_symcache_put(c, addr, out, k))
		return -1;
	return k;
}

/* Chain for one module address: DWARF, else symbol table, else offset. */
static int mg_chain(mg_sym *s, mg_module *m, uint64_t addr, mg_frame_txt *out, int cap, char *buf,
                    size_t buf_len)
{
	int k = m && m->mod ? mg_module_chain(s, m, addr, out, cap) : 0;
	if (k < 0 || (k > 0 && out[0].func))
		return k;
	if (k == 0)
		out[0] = (mg_frame_txt){NULL, NULL, 0, 0};
	if (!m && addr == LC_PC_KERNEL) /* the sampler's mark of kernel time */
		out[0].func = "[kernel]";
	if (!out[0].func) {
		snprintf(buf, buf_len, "%s+0x%" PRIx64, m ? m->base : "[unknown]", addr);
		out[0].func = buf;
	}
	return 1;
}

static int mg_frame_insert(mg_sym *s, const mg_frame_txt *f, const mg_module *m, uint64_t addr)
{
	sqlite3_stmt *st = s->ins_frame;
	sqlite3_bind_int64(st, 1, s->next_frame_id);
	sqlite3_bind_text(st, 2, f->func ? f->func : "??", -1, SQLITE_TRANSIENT);
	if (f->file)
		sqlite3_bind_text(st, 3, f->file, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 3);
	if (f->line > 0)
		sqlite3_bind_int(st, 4, f->line);
	else
		sqlite3_bind_null(st, 4);
	if (m)
		sqlite3_bind_text(st, 5, m->path, -1, SQLITE_STATIC);
	else
		sqlite3_bind_text(st, 5, addr == LC_PC_KERNEL ? "[kernel]" : "[unknown]", -1,
		                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (int64_t)addr);
	sqlite3_bind_int(st, 7, f->inlined);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	s->next_frame_id++;
	return 0;
}

int mg_sym_resolve(mg_sym_proc *p, uint64_t pc, int leaf, int64_t *out, int cap)
{
	mg_sym *s = p->sym;
	const mg_mapping *map = mg_mapping_find(p, pc);
	mg_module *m = map ? &s->modules[map->module] : NULL;
	uint64_t addr = map ? pc + map->delta : pc;
	if (!leaf && addr > 0)
		addr -= 1;
	uint64_t key1 = map ? map->module + 1 : 0;
	uint64_t *hit = mg_hash_get(&s->cache, key1, addr);
	if (!hit) {
		mg_frame_txt chain[MG_SYM_MAX_CHAIN];
		char buf[600];
		int k = mg_chain(s, m, addr, chain, MG_SYM_MAX_CHAIN, buf, sizeof buf);
		if (k < 0)
			return -1;
		uint64_t first = (uint64_t)s->next_frame_id;
		for (int i = 0; i < k; i++)
			if (mg_frame_insert(s, &chain[i], m, addr))
				return -1;
		if (mg_hash_put(&s->cache, key1, addr, first << 8 | (uint64_t)k))
			return -1;
		hit = mg_hash_get(&s->cache, key1, addr);
	}
	int n = (int)(*hit & 0xff);
	int64_t first = (int64_t)(*hit >> 8);
	if (n > cap)
		n = cap;
	for (int i = 0; i < n; i++)
		out[i] = first + i;
	return n;
}
