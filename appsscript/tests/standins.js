'use strict';
/**
 * Recording stand-ins for the Apps Script services Code.js uses, and a loader that runs Code.js
 * in a fresh vm context as Apps Script would (top-level functions become globals).
 *
 * The CardService stand-in knows each builder's real method names and enum values, so a typo in
 * Code.js (a method CardService does not have) fails the tests instead of failing in Gmail.
 */
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const METHODS = {
  CardBuilder: ['setHeader', 'addSection', 'setName', 'setFixedFooter', 'addCardAction',
    'setDisplayStyle', 'setPeekCardHeader'],
  CardHeader: ['setTitle', 'setSubtitle', 'setImageUrl', 'setImageStyle', 'setImageAltText'],
  CardSection: ['setHeader', 'addWidget', 'setCollapsible', 'setNumUncollapsibleWidgets'],
  TextParagraph: ['setText', 'setMaxLines'],
  DecoratedText: ['setText', 'setTopLabel', 'setBottomLabel', 'setWrapText', 'setOnClickAction',
    'setOpenLink', 'setButton', 'setSwitchControl', 'setStartIcon', 'setEndIcon'],
  ButtonSet: ['addButton'],
  TextButton: ['setText', 'setOnClickAction', 'setOpenLink', 'setDisabled', 'setTextButtonStyle',
    'setBackgroundColor', 'setAltText'],
  TextInput: ['setFieldName', 'setTitle', 'setHint', 'setValue', 'setMultiline',
    'setOnChangeAction'],
  SelectionInput: ['setFieldName', 'setTitle', 'setType', 'addItem', 'setOnChangeAction'],
  Switch: ['setFieldName', 'setValue', 'setSelected', 'setOnChangeAction', 'setControlType'],
  Divider: [],
  Action: ['setFunctionName', 'setParameters', 'setLoadIndicator', 'setPersistValues'],
  OpenLink: ['setUrl', 'setOpenAs', 'setOnClose'],
  FixedFooter: ['setPrimaryButton', 'setSecondaryButton'],
  ActionResponseBuilder: ['setNavigation', 'setNotification', 'setOpenLink', 'setStateChanged'],
  Navigation: ['pushCard', 'updateCard', 'popCard', 'popToRoot', 'popToNamedCard'],
  Notification: ['setText'],
  UpdateDraftActionResponseBuilder: ['setUpdateDraftBodyAction',
    'setUpdateDraftToRecipientsAction', 'setUpdateDraftCcRecipientsAction',
    'setUpdateDraftBccRecipientsAction', 'setUpdateDraftSubjectAction'],
  UpdateDraftBodyAction: ['addUpdateContent', 'setUpdateType'],
};
const BUILDS = new Set(['CardBuilder', 'ActionResponseBuilder', 'UpdateDraftActionResponseBuilder']);
const ENUMS = {
  ContentType: ['TEXT', 'MUTABLE_HTML', 'IMMUTABLE_HTML'],
  UpdateDraftBodyType: ['IN_PLACE_INSERT', 'INSERT_AT_START', 'INSERT_AT_END'],
  SelectionInputType: ['CHECK_BOX', 'RADIO_BUTTON', 'DROPDOWN', 'SWITCH'],
  TextButtonStyle: ['TEXT', 'FILLED', 'OUTLINED'],
  LoadIndicator: ['SPINNER', 'NONE'],
  OpenAs: ['FULL_SIZE', 'OVERLAY'],
  OnClose: ['NOTHING', 'RELOAD'],
};

/** A builder that records [method, ...args] and returns itself, like CardService's. */
function builder(kind) {
  const known = new Set(METHODS[kind]);
  const node = {kind, calls: []};
  for (const name of known) {
    node[name] = (...args) => {
      node.calls.push([name, ...args]);
      return node;
    };
  }
  if (BUILDS.has(kind)) {
    node.build = () => ({built: kind, calls: node.calls});
  }
  return node;
}

function makeCardService() {
  const service = {};
  for (const kind of Object.keys(METHODS)) {
    service[`new${kind}`] = () => builder(kind);
  }
  for (const [name, values] of Object.entries(ENUMS)) {
    service[name] = Object.freeze(Object.fromEntries(values.map((v) => [v, `${name}.${v}`])));
  }
  return Object.freeze(service);
}

/** UrlFetchApp that records each fetch and answers from ``respond(url, options)``. */
function makeUrlFetchApp(respond) {
  const requests = [];
  return {
    requests,
    fetch(url, options) {
      requests.push({url, options});
      const {status = 200, body = '{}'} = respond(url, options);
      return {
        getResponseCode: () => status,
        getContentText: () => (typeof body === 'string' ? body : JSON.stringify(body)),
      };
    },
  };
}

function makeCache() {
  const store = new Map();
  return {
    store,
    getUserCache: () => ({
      get: (key) => (store.has(key) ? store.get(key) : null),
      put: (key, value) => store.set(key, value),
    }),
  };
}

/** Load Code.js into a new context with the stand-ins; returns the context. */
function load({respond, properties = {}, identityToken = 'user-identity-token'} = {}) {
  const UrlFetchApp = makeUrlFetchApp(respond || (() => ({})));
  const CacheService = makeCache();
  const context = vm.createContext({
    CardService: makeCardService(),
    UrlFetchApp,
    CacheService,
    ScriptApp: {getIdentityToken: () => identityToken, getOAuthToken: () => 'user-oauth-token'},
    PropertiesService: {
      getScriptProperties: () => ({getProperty: (k) => (k in properties ? properties[k] : null)}),
    },
  });
  const source = fs.readFileSync(path.join(__dirname, '..', 'Code.js'), 'utf8');
  vm.runInContext(source, context, {filename: 'Code.js'});
  return context;
}

function fixture(name) {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', `${name}.json`), 'utf8'));
}

/** Every recorded call named ``method`` anywhere below ``node``. */
function callsNamed(node, method, found = []) {
  if (node && typeof node === 'object') {
    for (const call of node.calls || []) {
      if (call[0] === method) found.push(call);
      for (const arg of call.slice(1)) callsNamed(arg, method, found);
    }
    if (Array.isArray(node)) node.forEach((n) => callsNamed(n, method, found));
  }
  return found;
}

module.exports = {load, fixture, callsNamed, METHODS};
