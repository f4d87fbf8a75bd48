/*
 * mg_stackfuncs.c - see mg_stackfuncs.h.
 *
 * Function names are interned in an mg_strtab (common/mg_strtab.h).
 * Memory: three integers per node and one string per distinct name.
 */
#include "mg_stackfuncs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_err.h"
#include "mg_grow.h"
#include "mg_hash.h"
#include "mg_strtab.h"
#include "spanprof.h"

typedef struct mg_node {
	int64_t stack_id;
	int64_t parent; /* index in nodes, -1 for none */
	uint32_t func;  /* index in funcs */
} mg_node;

typedef struct mg_sf {
	mg_node *nodes;
	size_t n_nodes, cap_nodes;
	mg_strtab funcs; /* the distinct names */
	mg_hash node_of; /* (stack_id, 0) -> index in nodes */
} mg_sf;

static int mg_sf_add(mg_sf *sf, int64_t id, int64_t parent_id, const char *name)
{
	int64_t f = mg_strtab_intern(&sf->funcs, name ? name : "", NULL);
	if (f < 0)
		return -1;
	if (MG_GROW_ONE(sf->nodes, sf->cap_nodes, sf->n_nodes))
		return -1;
	/* parent holds the parent's stack id until mg_sf_link */
	sf->nodes[sf->n_nodes] = (mg_node){id, parent_id, (uint32_t)f};
	return mg_hash_put(&sf->node_of, (uint64_t)id, 0, sf->n_nodes++);
}

static int mg_sf_read(mg_sf *sf, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT s.stack_id, s.parent_id, f.func FROM main.stacks s"
	                            " JOIN main.frames f ON f.frame_id = s.frame_id"
	                            " ORDER BY s.stack_id",
	                            -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t parent =
		    sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 1);
		if (mg_sf_add(sf, sqlite3_column_int64(st, 0), parent,
		              (const char *)sqlite3_column_text(st, 2)))
			rc = SQLITE_NOMEM;
		else
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Parent stack ids -> node indexes (-1: no parent in this database). */
static void mg_sf_link(mg_sf *sf)
{
	for (size_t i = 0; i < sf->n_nodes; i++) {
		uint64_t *p = sf->nodes[i].parent < 0
		                  ? NULL
		                  : mg_hash_get(&sf->node_of, (uint64_t)sf->nodes[i].parent, 0);
		sf->nodes[i].parent = p ? (int64_t)*p : -1;
	}
}

static const char *const *mg_sort_names;

static int mg_cmp_func(const void *a, const void *b)
{
	return strcmp(mg_sort_names[*(const uint32_t *)a], mg_sort_names[*(const uint32_t *)b]);
}

/* The rows of each node: its path's distinct names, in name order. */
static int mg_sf_write(mg_sf *sf, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	uint64_t *stamp = calloc(sf->funcs.count + 1, sizeof *stamp);
	uint32_t *names = malloc((sf->funcs.count + 1) * sizeof *names);
	int rc = stamp && names ? sqlite3_prepare_v2(db, "INSERT INTO main.stack_funcs VALUES(?,?)",
	                                             -1, &st, NULL)
	                        : SQLITE_NOMEM;
	mg_sort_names = (const char *const *)sf->funcs.strs;
	for (size_t i = 0; rc == SQLITE_OK && i < sf->n_nodes; i++) {
		size_t n = 0, steps = 0; /* steps: a parent loop (a damaged database) ends */
		for (int64_t j = (int64_t)i; j >= 0 && steps++ < sf->n_nodes;
		     j = sf->nodes[j].parent) {
			uint32_t f = sf->nodes[j].func;
			if (stamp[f] != i + 1) {
				stamp[f] = i + 1;
				names[n++] = f;
			}
		}
		qsort(names, n, sizeof *names, mg_cmp_func);
		for (size_t k = 0; rc == SQLITE_OK && k < n; k++) {
			sqlite3_bind_int64(st, 1, sf->nodes[i].stack_id);
			sqlite3_bind_text(st, 2, sf->funcs.strs[names[k]], -1, SQLITE_STATIC);
			rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
			sqlite3_reset(st);
		}
	}
	sqlite3_finalize(st);
	free(stamp);
	free(names);
	return rc == SQLITE_OK ? 0 : -1;
}

int mg_stack_funcs_fill(sqlite3 *db)
{
	mg_sf sf = {0};
	int err = mg_sf_read(&sf, db);
	if (!err) {
		mg_sf_link(&sf);
		err = mg_sf_write(&sf, db);
	}
	if (err)
		mg_err_set(-SP_EIO, "deriving stack_funcs: %s", sqlite3_errmsg(db));
	mg_strtab_free(&sf.funcs);
	free(sf.nodes);
	mg_hash_free(&sf.node_of);
	return err ? -1 : 0;
}
