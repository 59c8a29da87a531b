#ifndef FERRY_SHIM_H
#define FERRY_SHIM_H
#include <lua.h>
#include <stdint.h>
#include <stddef.h>

/* What a Swift function exposed to Lua returns to its C trampoline. A value >= 0
   is the number of results it pushed. */
#define FERRY_CALL_ERROR (-1) /* an error message is on top of the stack: raise it */
#define FERRY_CALL_YIELD (-2) /* suspend the calling coroutine until Swift resumes it */

/* Lives in the memory of one VM, pointed to by every thread's extra space. */
typedef struct ferry_vm_header {
  void *owner;            /* the Swift LuaVM, unretained */
  int64_t ticks;          /* count-hook ticks since the running coroutine last resumed */
  int64_t max_ticks;      /* 0: no budget */
  int32_t hook_every;     /* instructions per tick */
  /* Threads to stop (a cancelled step: its timeout, Ctrl-C). Set from any thread; the
     count hook stops the running thread when it is one of them. */
  void *interrupted[16]; /* read and written with atomic builtins only */
  /* Bytes the state's allocator holds, and the most it may (0: no limit). */
  size_t mem_used;
  size_t mem_limit;
} ferry_vm_header;

/* A new state whose allocator counts bytes against h->mem_limit (refusing past it, which
   Lua reports as a memory error). */
lua_State *ferry_newstate(ferry_vm_header *h);

/* Marks `thread` to be stopped at its next count-hook tick (from any thread). Returns 0
   when all slots are taken. */
int ferry_interrupt(ferry_vm_header *h, void *thread);
/* Whether `thread` is marked to be stopped. */
int ferry_interrupted(ferry_vm_header *h, void *thread);
/* Forgets `thread` (it finished). */
void ferry_interrupt_clear(ferry_vm_header *h, void *thread);

/* Every Swift function exposed to Lua goes through this one dispatcher. It must not
   raise: it returns n >= 0, FERRY_CALL_ERROR or FERRY_CALL_YIELD. */
typedef int (*ferry_dispatch_fn)(lua_State *L, int function_id);
void ferry_set_dispatcher(ferry_dispatch_fn fn);

/* Pushes a C closure that calls the dispatcher with function_id. */
void ferry_push_function(lua_State *L, int function_id);

/* Installs the instruction-budget count hook on L (threads created later inherit it). */
void ferry_install_budget_hook(lua_State *L, int every);

/* Tracebacks: pushes the traceback of co with msg prepended. */
void ferry_traceback(lua_State *L, lua_State *co, const char *msg, int level);

/* Pushes "file:line:" of the Lua function at the given level of co ("" if unknown). */
void ferry_where(lua_State *L, int level);

/* Loads a text chunk (never binary). Returns the lua_load status; the chunk or an error
   message is on the stack. Does not raise. */
int ferry_load_text(lua_State *L, const char *buffer, size_t size, const char *chunkname);

/* Protected helpers the Swift side needs without risking a longjmp. */
int ferry_pcall_traceback(lua_State *L, int nargs, int nresults);
int ferry_safe_openlibs(lua_State *L);

#endif
