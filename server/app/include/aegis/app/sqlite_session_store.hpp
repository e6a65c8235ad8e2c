#pragma once

// The broker's session_store port over the SQLite store's keyed, sealed blobs
// (storage_sqlite::sqlite_broker_state). The composition root owns this adapter because neither
// side may name the other (DESIGN.md §3): the broker serialises its state itself, the store keeps
// opaque bytes; this class only maps spaces and records between the two.

#include "aegis/broker/session_store.hpp"
#include "aegis/storage_sqlite/broker_state.hpp"
#include "aegis/storage_sqlite/store.hpp"

namespace aegis::app {

class sqlite_session_store final : public broker::session_store {
public:
  // `store` must outlive this object. Calls block on disk: the storage executor only.
  explicit sqlite_session_store(storage_sqlite::sqlite_store& store) : state_(store) {}

  // broker::session_store
  result<void> apply(const broker::state_journal& batch) override;
  result<broker::state_snapshot> load() override;

private:
  storage_sqlite::sqlite_broker_state state_;
};

} // namespace aegis::app
