#include <stdlib.h>
#include "ferry_shim.h"
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

/* This file is the only place in Ferry that calls Lua API which may longjmp
   (lua_error, luaL_error, lua_yieldk). Swift code returns codes to it instead. */

static ferry_dispatch_fn ferry_dispatch = 0;

void ferry_set_dispatcher(ferry_dispatch_fn fn) { ferry_dispatch = fn; }

/* Pushes "file:line:" of the nearest caller that is runbook code, skipping Ferry's
   own Lua wrappers (chunks named "=ferry-..."), so errors point at the runbook. */
static void ferry_user_where(lua_State *L) {
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sl", &ar)) break;
    if (ar.currentline <= 0) continue;
    if (strncmp(ar.source, "=ferry", 6) == 0) continue;
    const char *src = ar.source[0] == '@' ? ar.source + 1 : ar.short_src;
    lua_pushfstring(L, "%s:%d: ", src, ar.currentline);
    return;
  }
  lua_pushliteral(L, "");
}

/* Whether a message already starts with "file:line: " (an error passing through
   several coroutines keeps its first, most precise location). */
static int ferry_has_location(const char *msg) {
  const char *colon = strchr(msg, ':');
  if (colon == NULL || colon == msg) return 0;
  for (const char *p = msg; p < colon; p++) if (*p == ' ' || *p == '\n') return 0;
  const char *d = colon + 1;
  if (*d < '0' || *d > '9') return 0;
  while (*d >= '0' && *d <= '9') d++;
  return d[0] == ':' && d[1] == ' ';
}

/* Continuation after an async Swift primitive resumed the coroutine with
   (true, results...) or (false, message). */
static int ferry_continue(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  if (lua_toboolean(L, 1)) {
    lua_remove(L, 1);
    return lua_gettop(L);
  }
  lua_settop(L, 2);
  if (lua_type(L, 2) == LUA_TSTRING && !ferry_has_location(lua_tostring(L, 2))) {
    ferry_user_where(L);
    lua_pushvalue(L, 2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

static int ferry_trampoline(lua_State *L) {
  int id = (int)lua_tointeger(L, lua_upvalueindex(1));
  int r = ferry_dispatch(L, id);
  if (r >= 0) return r;
  if (r == FERRY_CALL_YIELD) {
    lua_settop(L, 0);
    return lua_yieldk(L, 0, 0, ferry_continue);
  }
  /* FERRY_CALL_ERROR: message on top; prefix the caller's file:line for strings. */
  if (lua_type(L, -1) == LUA_TSTRING && !ferry_has_location(lua_tostring(L, -1))) {
    ferry_user_where(L);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

void ferry_push_function(lua_State *L, int function_id) {
  lua_pushinteger(L, function_id);
  lua_pushcclosure(L, ferry_trampoline, 1);
}

static int ferry_is_interrupted(ferry_vm_header *h, lua_State *L) {
  for (int i = 0; i < 16; i++) {
    if (__atomic_load_n(&h->interrupted[i], __ATOMIC_ACQUIRE) == (void *)L) return 1;
  }
  return 0;
}

int ferry_interrupt(ferry_vm_header *h, void *thread) {
  for (int i = 0; i < 16; i++) {
    void *expected = 0;
    if (__atomic_load_n(&h->interrupted[i], __ATOMIC_ACQUIRE) == thread) return 1;
    if (__atomic_compare_exchange_n(&h->interrupted[i], &expected, thread, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return 1;
  }
  return 0;
}

void ferry_interrupt_clear(ferry_vm_header *h, void *thread) {
  for (int i = 0; i < 16; i++) {
    void *expected = thread;
    __atomic_compare_exchange_n(&h->interrupted[i], &expected, (void *)0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  }
}

static void *ferry_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  ferry_vm_header *h = (ferry_vm_header *)ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    h->mem_used -= old;
    return NULL;
  }
  if (h->mem_limit > 0 && nsize > old && h->mem_used - old + nsize > h->mem_limit) return NULL;
  void *p = realloc(ptr, nsize);
  if (p) h->mem_used = h->mem_used - old + nsize;
  return p;
}

lua_State *ferry_newstate(ferry_vm_header *h) { return lua_newstate(ferry_alloc, h); }

static void ferry_budget_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  ferry_vm_header *h = *(ferry_vm_header **)lua_getextraspace(L);
  if (h == 0) return;
  if (ferry_is_interrupted(h, L)) {
    /* A yield from a count hook goes through pcall to lua_resume, so a runbook cannot
       catch it; the VM sees a yield with no operation and ends the coroutine. */
    lua_yield(L, 0);
    return;
  }
  if (h->max_ticks <= 0) return;
  h->ticks += 1;
  if (h->ticks == h->max_ticks + 1) {
    /* Inside a hook the running Lua function is level 0. */
    luaL_where(L, 0);
    lua_pushfstring(L, "instruction budget exceeded (%I instructions without yielding): "
                  "a runaway loop? (raise it with FERRY_LUA_BUDGET)",
               (lua_Integer)(h->max_ticks * (int64_t)h->hook_every));
    lua_concat(L, 2);
    lua_error(L);
  }
  if (h->ticks > h->max_ticks + 1) {
    /* The error was caught (pcall) and the loop went on: stop it for good. */
    lua_yield(L, 0);
  }
}

int ferry_interrupted(ferry_vm_header *h, void *thread) { return ferry_is_interrupted(h, (lua_State *)thread); }

void ferry_install_budget_hook(lua_State *L, int every) {
  lua_sethook(L, ferry_budget_hook, LUA_MASKCOUNT, every);
}

void ferry_traceback(lua_State *L, lua_State *co, const char *msg, int level) {
  luaL_traceback(L, co, msg, level);
}

void ferry_where(lua_State *L, int level) { luaL_where(L, level); }

int ferry_load_text(lua_State *L, const char *buffer, size_t size, const char *chunkname) {
  return luaL_loadbufferx(L, buffer, size, chunkname, "t");
}

static int ferry_msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int ferry_pcall_traceback(lua_State *L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, ferry_msgh);
  lua_insert(L, base);
  int status = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return status;
}

static int ferry_openlibs_body(lua_State *L) {
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1); lua_pop(L, 1);
  luaL_requiref(L, LUA_LOADLIBNAME, luaopen_package, 1); lua_pop(L, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1); lua_pop(L, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1); lua_pop(L, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1); lua_pop(L, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1); lua_pop(L, 1);
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1); lua_pop(L, 1);
  luaL_requiref(L, LUA_DBLIBNAME, luaopen_debug, 1); lua_pop(L, 1);
  return 0;
}

/* Opens the libraries a runbook may use (no io, no coroutine); the prelude then
   removes the unsafe parts of os, package and debug. */
int ferry_safe_openlibs(lua_State *L) {
  lua_pushcfunction(L, ferry_openlibs_body);
  return lua_pcall(L, 0, 0, 0);
}
