/**
 * Mailbeacon for Gmail, Apps Script variant: a thin client.
 *
 * Every trigger and button forwards the event to the Python endpoint (POST {base}/addon/...)
 * with the user's identity token, and renders the card JSON it answers with CardService. Cards
 * are defined once, in Python (addon/views.py); this file knows only the generic card v1 JSON
 * shapes. The backend's base URL comes from the script property MAILBEACON_BASE_URL (and must be
 * listed in appsscript.json's urlFetchWhitelist).
 */

var DEFAULT_BASE_URL = 'https://mailbeacon.example.com';
var ACTION_FUNCTION = 'onAction';
var URL_PARAMETER = '_url';

function baseUrl_() {
  var configured = PropertiesService.getScriptProperties().getProperty('MAILBEACON_BASE_URL');
  return String(configured || DEFAULT_BASE_URL).replace(/\/+$/, '');
}

/** Homepage trigger. */
function onHomepage(e) {
  return triggerCards_(callBackend_(baseUrl_() + '/addon/homepage', e));
}

/** Contextual trigger: an email is open. */
function onGmailMessage(e) {
  return triggerCards_(callBackend_(baseUrl_() + '/addon/message', e));
}

/** Compose trigger. */
function onGmailCompose(e) {
  return triggerCards_(callBackend_(baseUrl_() + '/addon/compose', e));
}

/** Every button: the backend URL to call travels in the action's parameters. */
function onAction(e) {
  var common = (e && e.commonEventObject) || {};
  var params = Object.assign({}, common.parameters || {});
  var url = params[URL_PARAMETER];
  delete params[URL_PARAMETER];
  var prefix = baseUrl_() + '/addon/';
  if (typeof url !== 'string' || url.indexOf(prefix) !== 0) {
    // Never send the user's identity token anywhere but our own backend.
    throw new Error('Refusing to call ' + url + ': not under ' + prefix);
  }
  Object.assign(params, rememberedState_(params.draft));
  var event = Object.assign({}, e, {commonEventObject: Object.assign({}, common, {parameters: params})});
  var json = callBackend_(url, event);
  rememberState_(params.draft, json);
  return actionResponse_(json);
}

/**
 * Apps Script cannot update the compose card in the response that edits the draft, so the
 * card's new state (the tracked message id) would be lost and a link inserted next would start
 * a new message. Keep that state in the user's cache, keyed by the compose card's draft key.
 */
function rememberState_(draft, json) {
  var host = json.renderActions && json.renderActions.hostAppAction;
  if (!draft || !host) return;
  var state = {};
  (actionOf_(json).navigations || []).forEach(function (nav) {
    JSON.stringify(nav.updateCard || {}, function (key, value) {
      if (value && value['function'] && value.parameters) {
        value.parameters.forEach(function (p) { state[p.key] = p.value; });
      }
      return value;
    });
  });
  if (state.draft === draft) {
    CacheService.getUserCache().put('mailbeacon:' + draft, JSON.stringify(state), 21600);
  }
}

function rememberedState_(draft) {
  if (!draft) return {};
  var saved = CacheService.getUserCache().get('mailbeacon:' + draft);
  return saved ? JSON.parse(saved) : {};
}

/** POST the event; answer the parsed JSON, or an error card's JSON on failure. */
function callBackend_(url, e) {
  var identity = ScriptApp.getIdentityToken();
  if (!identity) {
    throw new Error('No identity token: add the "openid" scope to appsscript.json.');
  }
  var event = e || {};
  var body = {
    commonEventObject: event.commonEventObject || {},
    gmail: event.gmail || {},
    draftMetadata: event.draftMetadata || {},
    authorizationEventObject: {userOAuthToken: ScriptApp.getOAuthToken()}
  };
  var response = UrlFetchApp.fetch(url, {
    method: 'post',
    contentType: 'application/json',
    payload: JSON.stringify(body),
    headers: {Authorization: 'Bearer ' + identity},
    muteHttpExceptions: true,
    followRedirects: false
  });
  var status = response.getResponseCode();
  if (status !== 200) {
    return errorResponse_('Mailbeacon answered ' + status + '. Please try again later.');
  }
  try {
    return JSON.parse(response.getContentText());
  } catch (err) {
    return errorResponse_('Mailbeacon sent an answer this add-on cannot read.');
  }
}

function errorResponse_(text) {
  return {action: {navigations: [{pushCard: {
    header: {title: 'Mailbeacon', subtitle: 'Something went wrong'},
    sections: [{widgets: [{textParagraph: {text: text}}]}]
  }}]}};
}

function enum_(name, value) {
  var found = CardService[name] && CardService[name][value];
  if (found === undefined) {
    throw new Error('Unknown ' + name + ' value ' + value);
  }
  return found;
}

// ---- JSON (card v1) -> CardService --------------------------------------------------------

function renderAction_(action) {
  var params = {};
  (action.parameters || []).forEach(function (p) { params[p.key] = String(p.value); });
  params[URL_PARAMETER] = action['function'];
  var built = CardService.newAction().setFunctionName(ACTION_FUNCTION).setParameters(params);
  if (action.loadIndicator) {
    built.setLoadIndicator(enum_('LoadIndicator', action.loadIndicator));
  }
  return built;
}

function applyOnClick_(builder, onClick) {
  if (onClick.action) {
    builder.setOnClickAction(renderAction_(onClick.action));
  } else if (onClick.openLink) {
    var link = CardService.newOpenLink().setUrl(onClick.openLink.url);
    if (onClick.openLink.openAs) link.setOpenAs(enum_('OpenAs', onClick.openLink.openAs));
    if (onClick.openLink.onClose) link.setOnClose(enum_('OnClose', onClick.openLink.onClose));
    builder.setOpenLink(link);
  } else {
    throw new Error('Unsupported onClick: ' + JSON.stringify(onClick));
  }
  return builder;
}

function renderButton_(json) {
  var button = CardService.newTextButton().setText(json.text);
  applyOnClick_(button, json.onClick);
  if (json.color) button.setTextButtonStyle(enum_('TextButtonStyle', 'FILLED'));
  if (json.disabled) button.setDisabled(true);
  return button;
}

function renderDecoratedText_(json) {
  var widget = CardService.newDecoratedText().setText(json.text);
  if (json.topLabel) widget.setTopLabel(json.topLabel);
  if (json.bottomLabel) widget.setBottomLabel(json.bottomLabel);
  if (json.wrapText) widget.setWrapText(true);
  if (json.onClick) applyOnClick_(widget, json.onClick);
  if (json.button) widget.setButton(renderButton_(json.button));
  if (json.switchControl) {
    var control = json.switchControl;
    var sw = CardService.newSwitch().setFieldName(control.name).setValue(control.value || 'on')
      .setSelected(!!control.selected);
    if (control.onChangeAction) sw.setOnChangeAction(renderAction_(control.onChangeAction));
    widget.setSwitchControl(sw);
  }
  return widget;
}

function renderWidget_(json) {
  if (json.textParagraph) {
    return CardService.newTextParagraph().setText(json.textParagraph.text);
  }
  if (json.decoratedText) {
    return renderDecoratedText_(json.decoratedText);
  }
  if (json.buttonList) {
    var set = CardService.newButtonSet();
    json.buttonList.buttons.forEach(function (b) { set.addButton(renderButton_(b)); });
    return set;
  }
  if (json.textInput) {
    var input = CardService.newTextInput().setFieldName(json.textInput.name);
    if (json.textInput.label) input.setTitle(json.textInput.label);
    if (json.textInput.hintText) input.setHint(json.textInput.hintText);
    if (json.textInput.value) input.setValue(json.textInput.value);
    if (json.textInput.type === 'MULTIPLE_LINE') input.setMultiline(true);
    return input;
  }
  if (json.selectionInput) {
    var sel = json.selectionInput;
    var choice = CardService.newSelectionInput().setFieldName(sel.name)
      .setType(enum_('SelectionInputType', sel.type));
    if (sel.label) choice.setTitle(sel.label);
    sel.items.forEach(function (item) { choice.addItem(item.text, item.value, !!item.selected); });
    return choice;
  }
  if (json.divider) {
    return CardService.newDivider();
  }
  throw new Error('Unsupported widget: ' + Object.keys(json).join(','));
}

function renderCard_(json) {
  var card = CardService.newCardBuilder();
  var header = CardService.newCardHeader().setTitle(json.header.title);
  if (json.header.subtitle) header.setSubtitle(json.header.subtitle);
  card.setHeader(header);
  if (json.name) card.setName(json.name);
  json.sections.forEach(function (s) {
    var section = CardService.newCardSection();
    if (s.header) section.setHeader(s.header);
    if (s.collapsible) {
      section.setCollapsible(true);
      if (s.uncollapsibleWidgetsCount) section.setNumUncollapsibleWidgets(s.uncollapsibleWidgetsCount);
    }
    s.widgets.forEach(function (w) { section.addWidget(renderWidget_(w)); });
    card.addSection(section);
  });
  if (json.fixedFooter) {
    card.setFixedFooter(CardService.newFixedFooter()
      .setPrimaryButton(renderButton_(json.fixedFooter.primaryButton)));
  }
  return card.build();
}

// ---- responses -----------------------------------------------------------------------------

function actionOf_(json) {
  return json.action || (json.renderActions && json.renderActions.action) || {};
}

/** Triggers answer a list of cards. */
function triggerCards_(json) {
  var cards = [];
  (actionOf_(json).navigations || []).forEach(function (nav) {
    var card = nav.pushCard || nav.updateCard;
    if (card) cards.push(renderCard_(card));
  });
  if (!cards.length) throw new Error('The backend answered no card.');
  return cards;
}

/** Buttons answer an ActionResponse, or an UpdateDraftActionResponse for draft edits. */
function actionResponse_(json) {
  var host = json.renderActions && json.renderActions.hostAppAction;
  var markup = host && host.gmailAction && host.gmailAction.updateDraftActionMarkup;
  if (markup) {
    // Apps Script cannot update the card in the same response (see rememberState_).
    var update = markup.updateBody;
    var body = CardService.newUpdateDraftBodyAction()
      .setUpdateType(enum_('UpdateDraftBodyType', update.type));
    update.insertContents.forEach(function (c) {
      body.addUpdateContent(c.content, enum_('ContentType', c.contentType));
    });
    return CardService.newUpdateDraftActionResponseBuilder().setUpdateDraftBodyAction(body).build();
  }
  var action = actionOf_(json);
  var response = CardService.newActionResponseBuilder();
  (action.navigations || []).forEach(function (nav) {
    var navigation = CardService.newNavigation();
    if (nav.pushCard) navigation.pushCard(renderCard_(nav.pushCard));
    else if (nav.updateCard) navigation.updateCard(renderCard_(nav.updateCard));
    else if (nav.popToRoot) navigation.popToRoot();
    else if (nav.popCard) navigation.popCard();
    response.setNavigation(navigation);
  });
  if (action.notification) {
    response.setNotification(CardService.newNotification().setText(action.notification.text));
  }
  return response.build();
}
