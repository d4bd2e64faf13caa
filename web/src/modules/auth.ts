// Sign in and sign up. Sessions are split-token (see @marquee/api); a new account signs in at once.
import { type Context, h, login, notice, signup, reason } from '@marquee/api';

export function mount(root: HTMLElement, ctx: Context) {
  const message = h('p', { class: 'notice' });
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'email', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, minLength: 8 });
  const role = h(
    'select',
    { name: 'role' },
    h('option', { value: 'buyer' }, 'Buying tickets'),
    h('option', { value: 'seller' }, 'Selling tickets'),
  );
  const roleField = h('label', { hidden: true }, 'I am ', role);
  let creating = false;
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const toggle = h('button', { type: 'button', class: 'link' }, 'New here? Create an account');
  toggle.addEventListener('click', () => {
    creating = !creating;
    roleField.hidden = !creating;
    password.autocomplete = creating ? 'new-password' : 'current-password';
    submit.textContent = creating ? 'Create account' : 'Sign in';
    toggle.textContent = creating ? 'Have an account? Sign in' : 'New here? Create an account';
    heading.textContent = creating ? 'Create an account' : 'Sign in';
  });
  const heading = h('h1', {}, 'Sign in');
  const form = h(
    'form',
    { class: 'card narrow' },
    heading,
    h('label', {}, 'Email ', email),
    h('label', {}, 'Password ', password),
    roleField,
    message,
    h('div', { class: 'actions' }, submit, toggle),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await (creating
        ? signup(email.value, password.value, role.value as 'buyer' | 'seller')
        : login(email.value, password.value));
      // `#/auth/p/gala` signs in and goes back to that storefront.
      ctx.navigate(ctx.args.length ? `#/${ctx.args.join('/')}` : '#/');
    } catch (e) {
      notice(message, reason(e));
      submit.disabled = false;
    }
  });
  root.append(form);
  email.focus();
}
