// Reordering todos: drag a todo by its handle (mouse, pen or touch, through
// pointer events), or focus the handle and press the up or down arrow key.
// The page only says where the todo goes — right after the todo above it, or
// right before the one below — and moveTodo computes the position key.
import { $ } from '/app/ui.js';

const status = $('reorder-status');

/**
 * Wires the handles (`.grip`) of the items of `listEl`. `move(id, to)` sends
 * the move, `render()` redraws the list from the store, `canMove()` says
 * whether the user may reorder, `nodes` maps ids to items.
 */
export function wireReorder(listEl, { canMove, move, render, nodes }) {
  let drag = null;

  const items = () => [...listEl.children];

  function announce(li) {
    const all = items();
    const title = li.querySelector('.title')?.textContent ?? 'The todo';
    status.textContent = `“${title}” moved to position ${all.indexOf(li) + 1} of ${all.length}.`;
  }

  /** Sends the move that puts `li` where it now is on screen. */
  function commit(li) {
    const prev = li.previousElementSibling;
    const next = li.nextElementSibling;
    if (!prev && !next) return;
    move(li.dataset.id, prev ? { afterId: prev.dataset.id } : { beforeId: next.dataset.id });
    // move() has marked the move pending: draw it now, so the item keeps its place (and focus).
    render();
    announce(nodes.get(li.dataset.id) ?? li);
  }

  listEl.addEventListener('keydown', (e) => {
    const grip = e.target.closest?.('.grip');
    if (!grip || (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') || !canMove()) return;
    e.preventDefault();
    const li = grip.closest('li');
    const all = items();
    const i = all.indexOf(li);
    const j = e.key === 'ArrowUp' ? i - 1 : i + 1;
    if (j < 0 || j >= all.length) return;
    const id = li.dataset.id;
    const to = e.key === 'ArrowUp' ? { beforeId: all[j].dataset.id } : { afterId: all[j].dataset.id };
    move(id, to);
    render();
    // Moving a node in the document drops its focus: give it back.
    nodes.get(id)?.querySelector('.grip')?.focus();
    announce(nodes.get(id) ?? li);
  });

  listEl.addEventListener('pointerdown', (e) => {
    const grip = e.target.closest('.grip');
    if (!grip || e.button !== 0 || !canMove() || drag) return;
    const li = grip.closest('li');
    e.preventDefault(); // no text selection, no scrolling on touch
    grip.setPointerCapture(e.pointerId);
    drag = {
      li,
      pointerId: e.pointerId,
      startY: e.clientY,
      offset: e.clientY - li.getBoundingClientRect().top,
      from: items().indexOf(li),
      started: false,
    };
  });

  listEl.addEventListener('pointermove', (e) => {
    if (!drag || e.pointerId !== drag.pointerId) return;
    const { li } = drag;
    if (!drag.started) {
      if (Math.abs(e.clientY - drag.startY) < 4) return;
      drag.started = true;
      li.classList.add('dragging');
      listEl.classList.add('sorting');
    }
    const y = e.clientY;
    // The first item whose middle is below the pointer gets the dragged one before it.
    let before = null;
    for (const other of items()) {
      if (other === li) continue;
      const r = other.getBoundingClientRect();
      if (y < r.top + r.height / 2) {
        before = other;
        break;
      }
    }
    const inPlace = before ? li.nextElementSibling === before : listEl.lastElementChild === li;
    if (!inPlace) listEl.insertBefore(li, before);
    // Keep the item under the pointer.
    li.style.transform = '';
    const top = li.getBoundingClientRect().top;
    li.style.transform = `translateY(${y - drag.offset - top}px)`;
    if (y < 60) scrollBy(0, -12);
    else if (y > innerHeight - 60) scrollBy(0, 12);
  });

  function end(e, drop) {
    if (!drag || e.pointerId !== drag.pointerId) return;
    const { li, started, from } = drag;
    drag = null;
    li.style.transform = '';
    li.classList.remove('dragging');
    listEl.classList.remove('sorting');
    if (!started) return;
    if (drop && items().indexOf(li) !== from) commit(li);
    else render();
  }
  listEl.addEventListener('pointerup', (e) => end(e, true));
  listEl.addEventListener('pointercancel', (e) => end(e, false));
  addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && drag) end({ pointerId: drag.pointerId }, false);
  });

  return { dragging: () => Boolean(drag?.started) };
}
