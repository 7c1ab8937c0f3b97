// The merge conflict dialog. An update is sent with `baseVersion` and only
// the fields the user changed; the server merges it unless someone else
// changed one of those same fields meanwhile. Then it refuses (CONFLICT)
// and sends the todo as it stands (`extensions.current`): this dialog shows
// both versions of each disputed field and lets the user keep theirs or
// mine. Conflicts are asked one at a time, in the order they came.
import { $ } from '/app/ui.js';

const dialog = $('conflict-dialog');
const FIELDS = { title: 'Title', completed: 'Done', dueAt: 'Due', description: 'Notes' };
let asking = Promise.resolve();

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function show(field, value) {
  if (field === 'completed') return value ? 'Done' : 'Not done';
  if (field === 'dueAt') return value ? dateFmt.format(new Date(value)) : 'No due date';
  return value ?? '';
}

function cell(tag, text, className) {
  const node = document.createElement(tag);
  node.textContent = text;
  if (className) node.className = className;
  return node;
}

function ask({ mine, theirs }) {
  $('conflict-body').textContent = `“${theirs.title}” was changed on another device or by someone you share the list with while your change waited.`;
  const rows = Object.keys(mine)
    .filter((f) => f in FIELDS)
    .map((f) => {
      const tr = document.createElement('tr');
      tr.append(cell('th', FIELDS[f]), cell('td', show(f, theirs[f]), 'theirs'), cell('td', show(f, mine[f]), 'mine'));
      return tr;
    });
  $('conflict-rows').replaceChildren(...rows);
  dialog.returnValue = '';
  dialog.showModal();
  $('conflict-theirs').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'mine' ? 'mine' : 'theirs'), { once: true });
  });
}

/**
 * Asks the user which version to keep: `mine` (the fields of the refused
 * update) or `theirs` (the todo the server has). Resolves to 'mine' or
 * 'theirs'; closing the dialog keeps theirs (nothing is lost that the
 * server has, and the user can edit again).
 */
export function resolveConflict(conflict) {
  const answer = asking.then(() => ask(conflict));
  asking = answer.catch(() => {});
  return answer;
}
