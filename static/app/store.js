// The loaded part of one list's todos, in the list's manual order (the
// server's POSITION order: position keys compared by bytes, ties by id),
// merged from pages, mutation results and subscription events. Every todo
// carries a `version` that grows with each change, so whichever copy arrives
// last, the newest one wins and a replayed or duplicate event changes nothing.
// The page never computes a position key: a move is shown where the user
// dropped it (`pendingMoves`) until the server's answer brings the real key.
//
// Writes waiting in the offline queue (outbox.js) are not in `byId`: they are
// laid over it each time the list is drawn (`list()`), so what the server
// says and what the user did stay apart. An answer or an event replaces the
// server copy; the queued write stops being laid over once it is answered.

export class TodoStore {
  /** `overlay()` gives the queued writes (outbox ops) to lay over the server's copy. */
  constructor(onChange, overlay = () => []) {
    this.listId = null;
    this.byId = new Map();
    /** id → the version it had when deleted: only a later version (a restore) brings it back. */
    this.deleted = new Map();
    this.overlay = overlay;
    /** id → { afterId } | { beforeId }: moves sent and not yet answered. */
    this.pendingMoves = new Map();
    this.endCursor = null;
    this.hasNextPage = false;
    this.onChange = onChange;
  }

  reset(listId = this.listId) {
    this.listId = listId;
    this.byId.clear();
    this.deleted.clear();
    this.pendingMoves.clear();
    this.endCursor = null;
    this.hasNextPage = false;
    this.onChange();
  }

  /** Position keys ascending by byte value (they are ASCII), ties by id. */
  static compare(a, b) {
    if (a.position !== b.position) return a.position < b.position ? -1 : 1;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  }

  /**
   * The server's todos with the queued writes of this list applied, as the
   * user expects to see them: each todo once, marked `pending` while a
   * write of it waits. New todos go first, newest on top, as the server
   * places them.
   */
  view() {
    const view = new Map(this.byId);
    const created = [];
    const touch = (id, fields) => {
      const todo = view.get(id);
      if (todo) view.set(id, { ...todo, ...fields, pending: true });
    };
    for (const op of this.overlay()) {
      if (op.listId !== this.listId) continue;
      switch (op.kind) {
        case 'create':
          if (!view.has(op.todoId) && !this.deleted.has(op.todoId)) {
            view.set(op.todoId, { ...op.todo, pending: true });
            created.push(op.todoId);
          }
          break;
        case 'update':
          touch(op.todoId, op.patch);
          break;
        case 'delete':
          view.delete(op.todoId);
          break;
        case 'restore':
          if (!view.has(op.todoId)) view.set(op.todoId, { ...op.todo, pending: true });
          break;
        case 'toggleAll':
          for (const todo of [...view.values()]) if (todo.completed !== op.completed) touch(todo.id, { completed: op.completed });
          break;
        case 'clearCompleted':
          for (const todo of [...view.values()]) if (todo.completed) view.delete(todo.id);
          break;
        default:
          break;
      }
    }
    return { view, created };
  }

  /** The server's order, with queued writes and unanswered moves shown. */
  list() {
    const { view, created } = this.view();
    const fresh = created.filter((id) => view.has(id)).reverse();
    const freshSet = new Set(fresh);
    const all = [
      ...fresh.map((id) => view.get(id)),
      ...[...view.values()].filter((t) => !freshSet.has(t.id)).sort(TodoStore.compare),
    ];
    for (const [id, to] of this.pendingMoves) {
      const from = all.findIndex((t) => t.id === id);
      if (from < 0) continue;
      const [todo] = all.splice(from, 1);
      const anchor = all.findIndex((t) => t.id === (to.afterId ?? to.beforeId));
      if (anchor < 0) all.splice(from, 0, todo);
      else all.splice(to.afterId ? anchor + 1 : anchor, 0, todo);
    }
    return all;
  }

  /** The last loaded todo: todos after it belong to unloaded pages. */
  boundary() {
    let last = null;
    for (const todo of this.byId.values()) if (!last || TodoStore.compare(todo, last) > 0) last = todo;
    return last;
  }

  /** Adds a page from a `todos` connection. */
  addPage(connection) {
    for (const todo of connection.nodes) this.put(todo, true);
    this.endCursor = connection.pageInfo.endCursor;
    this.hasNextPage = connection.pageInfo.hasNextPage;
    this.onChange();
  }

  /**
   * Stores `todo` unless a newer copy is known or it was deleted. An unknown
   * todo past the loaded range is left for "load more" to bring; a known one
   * that moved past it is dropped (it comes back with its page).
   */
  put(todo, fromPage = false, created = false) {
    if (this.deleted.has(todo.id)) {
      // A CREATED event at the deleted version is a restore whose answer
      // came before the delete's own (late) DELETED event.
      const deletedAt = this.deleted.get(todo.id);
      if (created ? deletedAt !== Infinity && todo.version < deletedAt : todo.version <= deletedAt) return false;
      this.deleted.delete(todo.id); // restored from the trash
    }
    const known = this.byId.get(todo.id);
    if (known && known.version >= todo.version) return false;
    if (!fromPage && this.hasNextPage) {
      const edge = this.boundary();
      if (edge && edge.id !== todo.id && TodoStore.compare(todo, edge) > 0) {
        return known ? this.byId.delete(todo.id) : false;
      }
    }
    this.byId.set(todo.id, todo);
    return true;
  }

  remove(id) {
    const known = this.byId.get(id);
    // Deleting keeps the version and restoring adds one, so a copy newer than
    // the deleted one is a restore. Unknown (and not deleted before): nothing
    // but a CREATED event may bring it back.
    if (known) this.deleted.set(id, Math.max(known.version, this.deleted.get(id) ?? 0));
    else if (!this.deleted.has(id)) this.deleted.set(id, Infinity);
    this.pendingMoves.delete(id);
    return this.byId.delete(id);
  }

  /** Applies a TodoEvent of the `changes` feed; returns whether anything changed. */
  apply(event) {
    let changed;
    if (event.listId !== this.listId) {
      // Another list's event; a todo of ours that it names moved there.
      changed = this.byId.delete(event.todoId);
    } else if (event.kind === 'DELETED') {
      changed = this.remove(event.todoId);
    } else {
      changed = this.put(event.todo, false, event.kind === 'CREATED');
    }
    if (changed) this.onChange(event);
    return changed;
  }

  /** A local change (mutation result) applied at once. */
  upsert(todo) {
    if (this.put(todo)) this.onChange();
  }

  /** Shows `id` right after `to.afterId` (or before `to.beforeId`) until `settle(id, to)`. */
  showMove(id, to) {
    this.pendingMoves.set(id, to);
    this.onChange();
  }

  /** The move `to` of `id` was answered (a later move of it stays shown). */
  settle(id, to) {
    if (this.pendingMoves.get(id) !== to) return;
    this.pendingMoves.delete(id);
    this.onChange();
  }
}
