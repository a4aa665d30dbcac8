'use strict';
// node --test appsscript/tests/ : Code.js against recording CardService and UrlFetchApp.
const test = require('node:test');
const assert = require('node:assert/strict');
const {load, fixture, callsNamed} = require('./standins.js');

const BASE = 'https://mailbeacon.example.com';

function backend(answers) {
  // answers: path -> response JSON (the Python add-on's answers, from fixtures)
  return (url) => {
    const path = url.slice(BASE.length);
    if (!(path in answers)) return {status: 404, body: '{"error":"no route"}'};
    return {status: 200, body: answers[path]};
  };
}

function plain(value) {
  return JSON.parse(JSON.stringify(value)); // cross-realm objects -> this realm, for deepEqual
}

test('homepage trigger forwards the event with the identity token and renders the card', () => {
  const ctx = load({respond: backend({'/addon/homepage': fixture('homepage')})});
  const event = {commonEventObject: {hostApp: 'GMAIL', timeZone: {id: 'Europe/Paris'}}};
  const cards = ctx.onHomepage(event);

  const [request] = ctx.UrlFetchApp.requests;
  assert.equal(request.url, `${BASE}/addon/homepage`);
  assert.equal(request.options.method, 'post');
  assert.equal(request.options.contentType, 'application/json');
  assert.equal(request.options.headers.Authorization, 'Bearer user-identity-token');
  assert.equal(request.options.muteHttpExceptions, true);
  const sent = JSON.parse(request.options.payload);
  assert.deepEqual(sent.commonEventObject, event.commonEventObject);
  assert.equal(sent.authorizationEventObject.userOAuthToken, 'user-oauth-token');

  assert.equal(cards.length, 1);
  assert.equal(cards[0].built, 'CardBuilder');
  const titles = callsNamed(cards[0], 'setTitle').map((c) => c[1]);
  assert.ok(titles.includes('Mailbeacon'));
  const texts = callsNamed(cards[0], 'setText').map((c) => c[1]);
  assert.ok(texts.includes('Not opened yet'), texts.join(' | '));
  assert.ok(texts.includes('Notification settings'));
});

test('every button calls onAction with the backend URL and the parameters', () => {
  const ctx = load({respond: backend({'/addon/homepage': fixture('homepage')})});
  const [card] = ctx.onHomepage({});
  const actions = callsNamed(card, 'setFunctionName').length;
  const params = callsNamed(card, 'setParameters').map((c) => plain(c[1]));
  assert.ok(actions >= 3);
  assert.equal(callsNamed(card, 'setFunctionName').every((c) => c[1] === 'onAction'), true);
  const detail = params.find((p) => p._url === `${BASE}/addon/detail`);
  assert.deepEqual(detail, {message_id: 'MESSAGE_ID', _url: `${BASE}/addon/detail`});
  assert.ok(params.some((p) => p._url === `${BASE}/addon/settings`));
  const indicators = callsNamed(card, 'setLoadIndicator').map((c) => c[1]);
  assert.ok(indicators.every((v) => v === 'LoadIndicator.SPINNER'));
});

test('compose: track inserts the pixel at the end, and a later link keeps the message', () => {
  const ctx = load({
    respond: backend({
      '/addon/compose': fixture('compose'),
      '/addon/compose/track': fixture('compose_track'),
      '/addon/compose/link': fixture('compose_link'),
    }),
  });
  const compose = {gmail: {toRecipients: ['ada@example.org']}, commonEventObject: {}};
  const [card] = ctx.onGmailCompose(compose);
  assert.equal(JSON.parse(ctx.UrlFetchApp.requests[0].options.payload).gmail.toRecipients[0],
    'ada@example.org');
  const track = callsNamed(card, 'setParameters').map((c) => plain(c[1]))
    .find((p) => p._url.endsWith('/addon/compose/track'));
  assert.deepEqual(track, {draft: 'DRAFT_KEY', _url: `${BASE}/addon/compose/track`});

  const response = ctx.onAction({commonEventObject: {parameters: track,
    formInputs: {subject: {stringInputs: {value: ['Deck']}}}}});
  assert.equal(response.built, 'UpdateDraftActionResponseBuilder');
  const [[, body]] = callsNamed(response, 'setUpdateDraftBodyAction');
  assert.deepEqual(callsNamed(body, 'setUpdateType').map((c) => c[1]),
    ['UpdateDraftBodyType.INSERT_AT_END']);
  const [[, html, type]] = callsNamed(body, 'addUpdateContent');
  assert.match(html, /^<img src="https:\/\/mailbeacon\.example\.com\/p\/PIXEL_TOKEN\.gif"/);
  assert.equal(type, 'ContentType.IMMUTABLE_HTML');
  const trackRequest = JSON.parse(ctx.UrlFetchApp.requests[1].options.payload);
  assert.deepEqual(trackRequest.commonEventObject.parameters, {draft: 'DRAFT_KEY'});

  // The compose card could not be updated with the draft; the next button still carries the
  // message id, restored from the user cache by the draft key.
  const link = ctx.onAction({commonEventObject: {
    parameters: {draft: 'DRAFT_KEY', _url: `${BASE}/addon/compose/link`},
    formInputs: {link_url: {stringInputs: {value: ['https://example.com/a']}}}}});
  const linkRequest = JSON.parse(ctx.UrlFetchApp.requests[2].options.payload);
  assert.deepEqual(linkRequest.commonEventObject.parameters,
    {draft: 'DRAFT_KEY', message_id: 'MESSAGE_ID', pixel: 'yes'});
  const [[, linkBody]] = callsNamed(link, 'setUpdateDraftBodyAction');
  assert.deepEqual(callsNamed(linkBody, 'setUpdateType').map((c) => c[1]),
    ['UpdateDraftBodyType.IN_PLACE_INSERT']);
  assert.match(callsNamed(linkBody, 'addUpdateContent')[0][1], /^<a href="[^"]+\/c\/LINK_TOKEN">A<\/a>$/);
});

test('settings: inputs, radio buttons and dropdowns are rendered with their names', () => {
  const ctx = load({respond: backend({'/addon/settings': fixture('settings')})});
  const response = ctx.onAction({commonEventObject: {parameters: {_url: `${BASE}/addon/settings`}}});
  assert.equal(response.built, 'ActionResponseBuilder');
  const [[, navigation]] = callsNamed(response, 'setNavigation');
  const [[, card]] = callsNamed(navigation, 'pushCard');
  const fields = callsNamed(card, 'setFieldName').map((c) => c[1]);
  for (const name of ['slack_mode', 'slack_webhook', 'chat_mode', 'chat_webhook', 'email_to',
    'notify', 'quiet_start', 'quiet_end', 'strictness']) {
    assert.ok(fields.includes(name), name);
  }
  const types = callsNamed(card, 'setType').map((c) => c[1]);
  assert.ok(types.includes('SelectionInputType.RADIO_BUTTON'));
  assert.ok(types.includes('SelectionInputType.DROPDOWN'));
  assert.equal(callsNamed(card, 'addItem').filter((c) => c[3] === true).length >= 5, true);
  assert.equal(callsNamed(card, 'setTextButtonStyle')[0][1], 'TextButtonStyle.FILLED');
});

test('a refused save updates the card and shows the notification', () => {
  const ctx = load({respond: backend({'/addon/settings/save': fixture('settings_refused')})});
  const response = ctx.onAction({commonEventObject: {parameters: {_url: `${BASE}/addon/settings/save`}}});
  const [[, navigation]] = callsNamed(response, 'setNavigation');
  assert.equal(callsNamed(navigation, 'updateCard').length, 1);
  const [[, notification]] = callsNamed(response, 'setNotification');
  assert.match(callsNamed(notification, 'setText')[0][1], /Not saved/);
  const texts = callsNamed(response, 'setText').map((c) => c[1]).join(' | ');
  assert.match(texts, /must start with https:\/\/hooks\.slack\.com\//);
});

test('onAction refuses to send the identity token outside the backend', () => {
  const ctx = load({respond: () => ({body: {}})});
  for (const url of ['https://evil.example/addon/detail', `${BASE}.evil.example/addon/x`, undefined]) {
    assert.throws(() => ctx.onAction({commonEventObject: {parameters: {_url: url}}}), /Refusing/);
  }
  assert.equal(ctx.UrlFetchApp.requests.length, 0);
});

test('the backend URL comes from the script property', () => {
  const other = 'https://mb.acme.example/base';
  const ctx = load({
    properties: {MAILBEACON_BASE_URL: other + '/'},
    respond: (url) => (url === `${other}/addon/message` ? {body: fixture('homepage')} : {status: 404}),
  });
  assert.equal(ctx.onGmailMessage({gmail: {messageId: 'm1', accessToken: 'a1'}}).length, 1);
  const sent = JSON.parse(ctx.UrlFetchApp.requests[0].options.payload);
  assert.deepEqual(sent.gmail, {messageId: 'm1', accessToken: 'a1'});
});

test('a backend error becomes a readable card, not an exception', () => {
  const ctx = load({respond: () => ({status: 401, body: '{"error":"unauthorized"}'})});
  const [card] = ctx.onHomepage({});
  const texts = callsNamed(card, 'setText').map((c) => c[1]);
  assert.ok(texts.some((t) => /answered 401/.test(t)));
});

test('without the openid scope there is no identity token and nothing is sent', () => {
  const ctx = load({identityToken: null, respond: () => ({body: {}})});
  assert.throws(() => ctx.onHomepage({}), /openid/);
  assert.equal(ctx.UrlFetchApp.requests.length, 0);
});

test('every fixture renders without touching an unknown CardService method or enum', () => {
  const ctx = load({respond: () => ({body: {}})});
  for (const name of ['homepage', 'compose', 'settings', 'settings_refused']) {
    const response = fixture(name);
    const rendered = name === 'settings_refused'
      ? ctx.actionResponse_(response) : ctx.triggerCards_(response)[0];
    assert.ok(rendered.built, name);
  }
  assert.throws(() => ctx.renderWidget_({carousel: {}}), /Unsupported widget/);
  assert.throws(() => ctx.enum_('ContentType', 'HTML'), /Unknown ContentType/);
});
