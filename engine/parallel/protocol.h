// The coordinator -> worker requests of the memory-parallel layer. Every request is one message
// on kRequestTag: Op (u32), then the fields below (engine/parallel/wire.h); every request except
// kShutdown is answered by one message on kReplyTag: a status, then the reply fields when OK.
//
//   kSelect     slot i32, top i32, idsa u8, t i64, q_sum f32[t * kv_width]
//               -> (ordinal i64, score f32)[] : the shard's local top `top`, global ordinals;
//                  with idsa the worker also loads them for kAttend
//   kFetch      slot i32, ordinals i64[] (global, ascending)
//               -> rows i64, k f32[rows * kv_width], v f32[rows * kv_width]
//   kAttend     slot i32, t i64, q f32[t * heads * head_dim]
//               -> out f32[t * heads * head_dim], lse f32[t * heads] over the kSelect'ed rows
//   kText       ordinal i64 -> text
//   kAppend     n u64, then per document: global i64, text, source, tags (n u64 + strings),
//               part_of i64 -> (global i64, id u64, tokens i64, chunks i64, evicted i64[])[] of
//               the documents made durable; a non-OK status names the first that was not
//   kDelete     ordinal i64 -> (nothing)
//   kInventory  -> (global i64, chunks i64, live u8)[] of every document the shard holds
//   kShutdown   reason string; no reply, the worker leaves its loop
#ifndef MNEME_ENGINE_PARALLEL_PROTOCOL_H_
#define MNEME_ENGINE_PARALLEL_PROTOCOL_H_

#include <cstdint>

namespace mneme::parallel {

enum class Op : uint32_t {
  kSelect = 1,
  kFetch = 2,
  kAttend = 3,
  kText = 4,
  kAppend = 5,
  kDelete = 6,
  kInventory = 7,
  kShutdown = 8,
};

enum class Mode { kExact, kIdsa };

}  // namespace mneme::parallel

#endif  // MNEME_ENGINE_PARALLEL_PROTOCOL_H_
