// The loaded part of the todo list, newest first (the server's default
// CREATED_AT_DESC order), merged from pages, mutation results and
// subscription events. Every todo carries a `version` that grows with each
// change, so whichever copy arrives last, the newest one wins and a replayed
// or duplicate event changes nothing.

export class TodoStore {
  constructor(onChange) {
    this.byId = new Map();
    this.deleted = new Set();
    this.endCursor = null;
    this.hasNextPage = false;
    this.onChange = onChange;
  }

  reset() {
    this.byId.clear();
    this.deleted.clear();
    this.endCursor = null;
    this.hasNextPage = false;
    this.onChange();
  }

  /** Newest first; ties broken by id, like the server's keyset order. */
  static compare(a, b) {
    if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
    return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
  }

  list() {
    return [...this.byId.values()].sort(TodoStore.compare);
  }

  /** The oldest loaded todo: todos older than it belong to unloaded pages. */
  boundary() {
    const all = this.list();
    return all[all.length - 1] ?? null;
  }

  /** Adds a page from the `todos` connection. */
  addPage(connection) {
    for (const todo of connection.nodes) this.put(todo, true);
    this.endCursor = connection.pageInfo.endCursor;
    this.hasNextPage = connection.pageInfo.hasNextPage;
    this.onChange();
  }

  /**
   * Stores `todo` unless a newer copy is known or it was deleted. An unknown
   * todo older than the loaded range is left for "load more" to bring.
   */
  put(todo, fromPage = false) {
    if (this.deleted.has(todo.id)) return false;
    const known = this.byId.get(todo.id);
    if (known && known.version >= todo.version) return false;
    if (!known && !fromPage && this.hasNextPage) {
      const edge = this.boundary();
      if (edge && TodoStore.compare(todo, edge) > 0) return false;
    }
    this.byId.set(todo.id, todo);
    return true;
  }

  remove(id) {
    this.deleted.add(id);
    return this.byId.delete(id);
  }

  /** Applies a `todoEvents` event; returns whether anything changed. */
  apply(event) {
    const changed = event.kind === 'DELETED' ? this.remove(event.todoId) : this.put(event.todo);
    if (changed) this.onChange(event);
    return changed;
  }

  /** A local change (mutation result) applied at once. */
  upsert(todo) {
    if (this.put(todo)) this.onChange();
  }
}
