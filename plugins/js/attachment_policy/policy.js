// attachment-policy: a Sluice plugin in JavaScript. Refuses attachments whose declared type
// is not in the tenant's `allowed_types` (comma-separated; default application/pdf,text/plain)
// and tags the rest. Built with componentize-js from the same WIT as every plugin. The
// allowed types are read once per instance; a key other than `allowed_types` is refused when
// the plugin loads (`init` throws, and the host names the plugin and the text).
import { config, configKeys } from 'sluice:policy/host@0.4.0';

function proceed() {
  return { verdict: { tag: 'continue' }, addHeaders: [], tags: [], rule: undefined };
}

let allowed;

function allowedTypes() {
  allowed ??= (config('allowed_types') ?? 'application/pdf,text/plain')
    .split(',').map((t) => t.trim().toLowerCase()).filter((t) => t);
  return allowed;
}

export const hooks = {
  init() {
    allowedTypes();
    const unknown = configKeys().filter((k) => k !== 'allowed_types');
    if (unknown.length > 0) {
      throw `unknown key \`${unknown[0]}\` (it knows \`allowed_types\`)`;
    }
  },
  implemented() { return ['data']; },
  onConnect() { return proceed(); },
  onHelo() { return proceed(); },
  onAuth() { return proceed(); },
  onMailFrom() { return proceed(); },
  onRcptTo() { return proceed(); },
  onData(session, message) {
    for (const a of message.attachments()) {
      if (!allowedTypes().includes(a.contentType)) {
        return {
          verdict: { tag: 'reject', val: { code: 550, enhanced: '5.7.1', text: `attachments of type ${a.contentType} are not accepted` } },
          addHeaders: [], tags: [], rule: 'attachment-type',
        };
      }
    }
    const d = proceed();
    d.tags = ['attachments-checked'];
    return d;
  },
  onRoute() { return undefined; },
  onDeliveryResult() {},
};
