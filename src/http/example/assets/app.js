// The example partner app: what a partner's web app does with the gateway's public API.
//
// event → captcha → reserve (POST /v1/checkouts) → payment session → the gateway's hosted
// payment page → back at /example/return → purchase → the order's redemption link.
//
// It keeps the user, their token and the checkout in sessionStorage (this tab only), never
// card data: the card is typed into the gateway's own page, which this app only links to.
// Every call sends `Prefer: wait` and handles a 202 by reading the checkout again (each read
// waits on the server while the checkout is pending). Every refusal is shown with its
// problem `code` and `detail`. Page content from the API is set as text, never as HTML.
'use strict';

(() => {
  const STORE = 'checkout-gateway-example';
  const PREFER_WAIT = 'wait=20';
  /// States the gateway is still working on: read the checkout again.
  const PENDING = new Set(['reserving', 'paying', 'purchasing', 'releasing']);
  /// How long the app keeps reading a pending checkout before it says so and stops.
  const SETTLE_MS = 120000;
  const STEPS = ['step-event', 'step-tickets', 'step-captcha', 'step-reserved', 'step-return',
    'step-order'];

  const $ = (id) => document.getElementById(id);

  // ---- State: this tab's user, token, chosen tickets and checkout. No card data, ever.

  function load() {
    try {
      return JSON.parse(sessionStorage.getItem(STORE)) || {};
    } catch {
      return {};
    }
  }

  function save(patch) {
    const next = { ...load(), ...patch };
    sessionStorage.setItem(STORE, JSON.stringify(next));
    return next;
  }

  /// Forgets the checkout and what led to it; keeps the user and their token.
  function forgetCheckout() {
    const { user, token, token_expires_at: expires } = load();
    sessionStorage.setItem(STORE, JSON.stringify({ user, token, token_expires_at: expires }));
  }

  function randomHex(bytes) {
    const buf = new Uint8Array(bytes);
    crypto.getRandomValues(buf);
    return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function newKey() {
    return crypto.randomUUID ? crypto.randomUUID() : randomHex(16);
  }

  // ---- Status, errors and views.

  function status(text) {
    $('status').textContent = text;
  }

  /// A refusal: the API's problem+json, or one of the app's own (code and detail alike).
  class Problem extends Error {
    constructor(body, httpStatus) {
      const problem = body && typeof body === 'object' ? body : {};
      super(problem.detail || `HTTP ${httpStatus}`);
      this.code = problem.code || `http_${httpStatus}`;
      this.detail = problem.detail || (typeof body === 'string' && body.slice(0, 300)) ||
        `The gateway answered ${httpStatus}.`;
      this.fields = Array.isArray(problem.errors) ? problem.errors : [];
      this.checkoutId = problem.checkout_id;
    }
  }

  function showProblem(error) {
    const problem = error instanceof Problem ? error : new Problem({
      code: 'network_error',
      detail: `The gateway could not be reached: ${error.message}`,
    }, 0);
    const box = $('error');
    box.dataset.code = problem.code;
    $('error-code').textContent = problem.code;
    $('error-detail').textContent = problem.detail;
    const list = $('error-fields');
    list.replaceChildren(...problem.fields.map((f) => {
      const item = document.createElement('li');
      item.textContent = `${f.field}: ${f.message}`;
      return item;
    }));
    box.hidden = false;
    status('');
  }

  function clearProblem() {
    const box = $('error');
    box.hidden = true;
    delete box.dataset.code;
  }

  /// Shows one step, moving focus to its heading so a screen reader follows along.
  function show(step, { focus = true } = {}) {
    for (const id of STEPS) $(id).hidden = id !== step;
    const heading = $(step).querySelector('h2');
    if (focus && heading) heading.focus();
  }

  /// Runs a user action: clears the last error, shows a refusal, keeps buttons from being
  /// pressed twice while it runs.
  function action(button, run) {
    return async (event) => {
      if (event) event.preventDefault();
      clearProblem();
      if (button) button.disabled = true;
      try {
        await run();
      } catch (error) {
        showProblem(error);
      } finally {
        if (button) button.disabled = false;
      }
    };
  }

  function text(tag, content, className) {
    const el = document.createElement(tag);
    el.textContent = content;
    if (className) el.className = className;
    return el;
  }

  /// A definition list of [term, value] pairs.
  function facts(pairs) {
    const dl = document.createElement('dl');
    for (const [term, value] of pairs) {
      if (value === undefined || value === null || value === '') continue;
      dl.append(text('dt', term), text('dd', String(value)));
    }
    return dl;
  }

  function money(amount, currency) {
    try {
      return new Intl.NumberFormat('en-US', { style: 'currency', currency: currency || 'USD' })
        .format(amount);
    } catch {
      return `${amount} ${currency || ''}`.trim();
    }
  }

  function when(iso, timeZone) {
    if (!iso) return '';
    const options = { dateStyle: 'full', timeStyle: 'short' };
    try {
      return new Intl.DateTimeFormat('en-US', { ...options, timeZone }).format(new Date(iso));
    } catch {
      return new Intl.DateTimeFormat('en-US', options).format(new Date(iso));
    }
  }

  // ---- Calls.

  async function readBody(resp) {
    const type = resp.headers.get('content-type') || '';
    if (resp.status === 204) return null;
    if (type.includes('json')) return resp.json();
    return resp.text();
  }

  /// This tab's user token, minted by the app's development-only route. A real partner's
  /// backend mints its users' tokens from its own sign-in.
  async function token() {
    const state = load();
    if (state.token && state.token_expires_at > Date.now() + 60000) return state.token;
    const user = state.user || `example-${randomHex(6)}`;
    const resp = await fetch('/example/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user }),
    });
    const body = await readBody(resp);
    if (!resp.ok) throw new Problem(body, resp.status);
    save({ user, token: body.token, token_expires_at: Date.now() + body.expires_in * 1000 });
    return body.token;
  }

  /// One call to the public API as this tab's user; a refusal throws its problem.
  async function api(method, path, { body, headers = {} } = {}) {
    const init = {
      method,
      headers: {
        Authorization: `Bearer ${await token()}`,
        Accept: 'application/json, application/problem+json',
        ...headers,
      },
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const data = await readBody(resp);
    if (!resp.ok) throw new Problem(data, resp.status);
    return { status: resp.status, data, headers: resp.headers };
  }

  /// A checkout the gateway is still working on (a 202) is read again, each read waiting up
  /// to 20 s on the server, until it settles or the app gives up.
  async function settle(checkout) {
    const deadline = Date.now() + SETTLE_MS;
    let current = checkout;
    while (PENDING.has(current.state)) {
      if (Date.now() > deadline) {
        throw new Problem({
          code: 'still_pending',
          detail: `Checkout ${current.id} is still ${current.state}; try again in a moment.`,
        }, 0);
      }
      status(`The gateway is still working on it (${current.state})…`);
      current = (await api('GET', `/v1/checkouts/${encodeURIComponent(current.id)}`,
        { headers: { Prefer: PREFER_WAIT } })).data;
    }
    return current;
  }

  /// A settled checkout that failed is a refusal too: its `error` has the code.
  function failedAsProblem(checkout) {
    if (checkout.state !== 'failed') return checkout;
    const error = checkout.error || {};
    throw new Problem({
      code: error.code || 'failed',
      detail: error.message || `Checkout ${checkout.id} failed.`,
      checkout_id: checkout.id,
    }, 0);
  }

  // ---- 1. Events.

  async function showEvents() {
    show('step-event', { focus: false });
    const resp = await fetch('/example/events');
    const events = resp.ok ? await resp.json() : [];
    const list = $('event-list');
    list.replaceChildren();
    events.forEach((event, i) => {
      const id = `event-${event.event_id}`;
      const input = document.createElement('input');
      Object.assign(input, { type: 'radio', name: 'event', id, value: event.event_id });
      if (i === 0) input.checked = true;
      const notes = [];
      if (!event.transactable) notes.push('not sold through the API: shows the refusal');
      if (event.seats <= 2) notes.push(`${event.seats} seats in all: sells out`);
      const label = text('label', `${event.name} (${event.event_id})`);
      label.htmlFor = id;
      if (notes.length) label.append(text('span', ` — ${notes.join('; ')}`, 'hint'));
      const row = document.createElement('div');
      row.className = 'choice';
      row.append(input, label);
      list.append(row);
    });
    $('event-choices').hidden = events.length === 0;
    status(events.length ? 'Pick an event.' : 'Enter an event id.');
  }

  async function pickEvent() {
    const typed = $('event-id').value.trim();
    const checked = document.querySelector('input[name="event"]:checked');
    const eventId = typed || (checked && checked.value);
    if (!eventId) {
      throw new Problem({ code: 'validation_failed', detail: 'Pick an event or enter its id.' }, 0);
    }
    status('Loading the event…');
    const event = (await api('GET', `/v1/events/${encodeURIComponent(eventId)}`)).data;
    save({ event_id: event.event_id, event });
    renderEvent(event);
    show('step-tickets');
    status(`${event.name}: choose tickets.`);
  }

  // ---- 2. Tickets.

  function renderEvent(event) {
    const venue = event.venue || {};
    $('event-details').replaceChildren(
      text('h3', event.name),
      facts([
        ['When', when(event.starts_at, event.timezone)],
        ['Where', [venue.name, venue.city, venue.region].filter(Boolean).join(', ')],
        ['Sold through the API', event.transactable ? 'yes' : 'no'],
        ['On sale', event.on_sale ? 'yes' : 'no'],
        ['At most per order', event.max_tickets],
      ]),
    );
    const list = $('ticket-list');
    list.replaceChildren();
    (event.ticket_types || []).forEach((type, i) => {
      const id = `ticket-${type.ticket_id}`;
      const input = document.createElement('input');
      Object.assign(input, { type: 'radio', name: 'ticket', id, value: type.ticket_id });
      if (i === 0) input.checked = true;
      const level = (type.price_levels || [])[0];
      const price = level ? `${money(level.face_value, level.currency)} + ${
        money(level.fees, level.currency)} fees` : 'price on request';
      const label = text('label', `${type.description} — ${price}`);
      label.htmlFor = id;
      input.addEventListener('change', () => quantityRules(type, event));
      const row = document.createElement('div');
      row.className = 'choice';
      row.append(input, label);
      list.append(row);
    });
    const first = (event.ticket_types || [])[0];
    if (first) quantityRules(first, event);
  }

  function quantityRules(type, event) {
    const rules = type.quantity_rules || {};
    const input = $('quantity');
    const minimum = rules.exact || rules.minimum || 1;
    input.min = String(minimum);
    input.step = String(rules.exact ? 1 : rules.multiple || 1);
    if (event.max_tickets) input.max = String(event.max_tickets);
    if (Number(input.value) < minimum) input.value = String(minimum);
    const hints = [rules.exact ? `Exactly ${rules.exact}.` : `At least ${minimum}.`];
    if (!rules.exact && rules.multiple > 1) hints.push(`In multiples of ${rules.multiple}.`);
    if (event.max_tickets) hints.push(`At most ${event.max_tickets}.`);
    $('quantity-hint').textContent = hints.join(' ');
  }

  function chooseTickets() {
    const checked = document.querySelector('input[name="ticket"]:checked');
    const quantity = Number.parseInt($('quantity').value, 10);
    if (!checked || !Number.isInteger(quantity) || quantity < 1) {
      throw new Problem({
        code: 'validation_failed',
        detail: 'Choose a ticket type and a number of tickets.',
      }, 0);
    }
    save({ tickets: [{ ticket_id: checked.value, quantity }] });
    return showCaptcha();
  }

  // ---- 3. Captcha.

  let captchaToken = null;

  async function showCaptcha() {
    captchaToken = null;
    $('reserve').disabled = true;
    $('captcha-result').textContent = '';
    show('step-captcha');
    status('Loading the captcha page…');
    const { data, headers } = await api('GET', '/v1/captcha', { headers: { Prefer: PREFER_WAIT } });
    // Sandboxed (no scripts, no same-origin) and under this page's Content-Security-Policy:
    // shown for what it is, the provider's script is not loaded.
    const html = typeof data === 'string' ? data : '';
    $('captcha-frame').srcdoc = html;
    $('captcha-source').textContent = html;
    const siteKey = headers.get('X-Captcha-Site-Key');
    $('captcha-site-key').textContent = siteKey ? `Site key: ${siteKey}` : '';
    status('Solve the captcha, then reserve.');
  }

  function solveCaptcha() {
    captchaToken = `example-captcha-${randomHex(16)}`;
    $('captcha-result').textContent = `Solved with a sandbox token: ${captchaToken}`;
    $('reserve').disabled = false;
    status('Captcha solved. You can reserve now.');
  }

  // ---- Reserve.

  async function reserve() {
    const state = load();
    if (!captchaToken) {
      throw new Problem({ code: 'captcha_invalid', detail: 'Solve the captcha first.' }, 0);
    }
    const body = { event_id: state.event_id, captcha_token: captchaToken, tickets: state.tickets };
    // A captcha token is good for one checkout: whatever the answer, solve again next time.
    captchaToken = null;
    $('reserve').disabled = true;
    status('Reserving your seats…');
    let checkout;
    try {
      checkout = (await api('POST', '/v1/checkouts', {
        body,
        headers: { Prefer: PREFER_WAIT, 'Idempotency-Key': newKey() },
      })).data;
    } finally {
      $('captcha-result').textContent = '';
    }
    save({ checkout_id: checkout.id });
    checkout = failedAsProblem(await settle(checkout));
    showCheckout(checkout);
  }

  /// The view that fits a settled checkout's state; `note` says why a checkout is still only
  /// reserved (back from the payment page without paying).
  function showCheckout(checkout, note) {
    switch (checkout.state) {
      case 'reserved':
        renderSummary($('checkout-summary'), checkout);
        show('step-reserved');
        status(note || `Reserved: checkout ${checkout.id}. Pay before the hold runs out.`);
        break;
      case 'payment_accepted':
        renderSummary($('return-summary'), checkout);
        show('step-return');
        status('Payment accepted. Place the order to buy the tickets.');
        break;
      case 'purchased':
        showOrder(checkout);
        break;
      case 'purchase_unconfirmed':
        renderSummary($('return-summary'), checkout);
        show('step-return');
        $('purchase').hidden = true;
        status('The purchase was sent, but its outcome is not confirmed yet. The gateway keeps '
          + 'checking; reload this page later.');
        break;
      default:
        forgetCheckout();
        throw new Problem({
          code: checkout.error ? checkout.error.code : checkout.state,
          detail: checkout.error ? checkout.error.message
            : `Checkout ${checkout.id} is ${checkout.state}. Start over to buy again.`,
          checkout_id: checkout.id,
        }, 0);
    }
  }

  function renderSummary(container, checkout) {
    const totals = checkout.totals || {};
    const seats = (checkout.tickets || []).map((t) =>
      `${t.quantity} × ${t.ticket_id}: section ${t.section}, row ${t.row}, seats ${
        (t.seats || []).join(', ')}`);
    container.replaceChildren(facts([
      ['Checkout', checkout.id],
      ['State', checkout.state],
      ['Seats', seats.join('; ')],
      ['Tickets', totals.face !== undefined ? money(totals.face, totals.currency) : ''],
      ['Fees', totals.fees !== undefined ? money(totals.fees, totals.currency) : ''],
      ['Taxes', totals.taxes !== undefined ? money(totals.taxes, totals.currency) : ''],
      ['Total', totals.grand !== undefined ? money(totals.grand, totals.currency) : ''],
      ['Held until', checkout.hold_expires_at
        ? new Date(checkout.hold_expires_at).toLocaleTimeString('en-US') : ''],
      ['Card', checkout.payment ? `${checkout.payment.brand} ending ${checkout.payment.last4}` : ''],
    ]));
  }

  // ---- 4. Payment: a session on the gateway's hosted page, which takes the card.

  function billing() {
    const value = (id) => $(id).value.trim();
    const pick = (ids) => Object.fromEntries(ids.map((id) => [id, value(id)])
      .filter(([, v]) => v !== ''));
    const out = pick(['first_name', 'last_name', 'email', 'phone']);
    const address = pick(['line1', 'city', 'region', 'postal_code', 'country']);
    if (address.country) address.country = address.country.toUpperCase();
    if (Object.keys(address).length) out.address = address;
    return out;
  }

  async function toPayment() {
    const { checkout_id: id } = load();
    status('Opening a payment session…');
    const session = (await api('POST', `/v1/checkouts/${encodeURIComponent(id)}/payment-session`, {
      body: { return_url: `${window.location.origin}/example/return`, billing: billing() },
      headers: { 'Idempotency-Key': newKey() },
    })).data;
    status('Opening the payment page…');
    window.location.assign(session.url);
  }

  async function release() {
    const { checkout_id: id } = load();
    status('Releasing your seats…');
    const { data } = await api('DELETE', `/v1/checkouts/${encodeURIComponent(id)}`, {
      headers: { Prefer: PREFER_WAIT, 'Idempotency-Key': newKey() },
    });
    if (data && data.state) await settle(data);
    forgetCheckout();
    await showEvents();
    status('Reservation cancelled: the seats are released.');
  }

  // ---- 5. Back from the payment page: /example/return?checkout_id=…&outcome=…

  const OUTCOMES = {
    payment_accepted: 'Payment accepted.',
    pending: 'The payment is still being processed…',
    cancelled: 'Payment cancelled: your seats are still held.',
    expired: 'The payment page expired.',
    failed: 'The payment could not be completed.',
  };

  async function returned() {
    const params = new URLSearchParams(window.location.search);
    const id = params.get('checkout_id');
    const outcome = params.get('outcome');
    const state = load();
    if (!id || id !== state.checkout_id) {
      show('step-event', { focus: false });
      throw new Problem({
        code: 'unknown_checkout',
        detail: `This tab has no checkout ${id || '(none given)'}: the payment page returns to `
          + 'the tab that opened it. Start over.',
      }, 0);
    }
    $('return-outcome').textContent = OUTCOMES[outcome] || `Back from the payment page (${outcome}).`;
    show('step-return', { focus: false });
    // The outcome in the URL is a hint; the checkout's state is what counts.
    status('Checking the checkout…');
    const checkout = await settle((await api('GET', `/v1/checkouts/${encodeURIComponent(id)}`,
      { headers: { Prefer: PREFER_WAIT } })).data);
    if (checkout.state === 'payment_accepted') {
      $('return-outcome').textContent = OUTCOMES.payment_accepted;
    }
    // Still only reserved: the payment was cancelled, or refused (its error says why).
    const refused = checkout.error
      ? `The payment was refused (${checkout.error.code}): ${checkout.error.message}` : null;
    showCheckout(failedAsProblem(checkout), refused || OUTCOMES[outcome]);
  }

  async function purchase() {
    const state = load();
    // Kept before it is sent: a reload or a retry sends the same key, so the purchase runs once.
    const key = state.purchase_key || newKey();
    save({ purchase_key: key });
    status('Placing the order…');
    const checkout = (await api('POST',
      `/v1/checkouts/${encodeURIComponent(state.checkout_id)}/purchase`, {
        headers: { Prefer: PREFER_WAIT, 'Idempotency-Key': key },
      })).data;
    showCheckout(failedAsProblem(await settle(checkout)));
  }

  // ---- The order.

  function showOrder(checkout) {
    const order = checkout.order || {};
    $('order-summary').replaceChildren(facts([
      ['Order', order.order_id],
      ['Checkout', checkout.id],
      ['Total charged', order.grand_total !== undefined
        ? money(order.grand_total, order.currency) : ''],
      ['Order token', order.order_token],
      ['Ticketmaster app link', order.app_url],
    ]));
    const link = $('redemption-link');
    const safe = /^https?:\/\//i.test(order.redemption_url || '');
    link.href = safe ? order.redemption_url : '#';
    link.hidden = !safe;
    show('step-order');
    status(`Purchased: order ${order.order_id}.`);
    forgetCheckout();
    // The return URL named a checkout this tab no longer keeps: a reload starts afresh.
    window.history.replaceState(null, '', '/example/');
  }

  // ---- Start.

  /// On `/example/`: the checkout this tab was working on, if any, else the event picker.
  async function resume() {
    const { checkout_id: id } = load();
    if (!id) return showEvents();
    status('Reading your checkout…');
    try {
      const checkout = await settle((await api('GET', `/v1/checkouts/${encodeURIComponent(id)}`,
        { headers: { Prefer: PREFER_WAIT } })).data);
      return showCheckout(failedAsProblem(checkout));
    } catch (error) {
      forgetCheckout();
      await showEvents();
      throw error;
    }
  }

  async function startOver() {
    forgetCheckout();
    $('purchase').hidden = false;
    if (window.location.pathname !== '/example/') {
      window.location.assign('/example/');
      return;
    }
    await showEvents();
    $('step-event-title').focus();
  }

  function start() {
    $('event-form').addEventListener('submit', action($('show-event'), pickEvent));
    $('tickets-form').addEventListener('submit', action($('to-captcha'), chooseTickets));
    $('captcha-solve').addEventListener('click', action(null, solveCaptcha));
    $('reserve').addEventListener('click', action(null, reserve));
    $('pay-form').addEventListener('submit', action($('to-payment'), toPayment));
    $('release').addEventListener('click', action($('release'), release));
    $('purchase').addEventListener('click', action($('purchase'), purchase));
    $('start-over').addEventListener('click', action(null, startOver));
    const first = window.location.pathname.endsWith('/return') ? returned : resume;
    action(null, first)();
  }

  start();
})();
