#ifndef FERRY_CLUA_SHIM_H
#define FERRY_CLUA_SHIM_H
/* Lua 5.4 headers plus the macros Swift cannot import, as inline functions.
   Nothing here raises: the raising API is only called from CLuaShim. */
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

static inline void ferry_lua_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline void ferry_lua_newtable(lua_State *L) { lua_newtable(L); }
static inline int ferry_lua_isnoneornil(lua_State *L, int i) { return lua_isnoneornil(L, i); }
static inline int ferry_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline int ferry_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline void *ferry_getextraspace(lua_State *L) { return lua_getextraspace(L); }
static inline lua_Number ferry_tonumber(lua_State *L, int i) { return lua_tonumberx(L, i, NULL); }
static inline lua_Integer ferry_tointeger(lua_State *L, int i) { return lua_tointegerx(L, i, NULL); }
static inline void ferry_pushglobaltable(lua_State *L) { lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS); }
static inline void ferry_insert(lua_State *L, int i) { lua_rotate(L, i, 1); }
static inline void ferry_remove(lua_State *L, int i) { lua_rotate(L, i, -1); lua_pop(L, 1); }
static inline void ferry_replace(lua_State *L, int i) { lua_copy(L, -1, i); lua_pop(L, 1); }
static inline int ferry_lua_ok(void) { return LUA_OK; }
static inline int ferry_lua_yield_status(void) { return LUA_YIELD; }
static inline int ferry_lua_multret(void) { return LUA_MULTRET; }
#endif
