// attachment-policy: a Sluice plugin in JavaScript. Refuses attachments whose declared type
// is not in the tenant's `allowed_types` (comma-separated; default application/pdf,text/plain)
// and tags the rest. Built with componentize-js from the same WIT as every plugin.
import { config } from 'sluice:policy/host@0.3.0';

function proceed() {
  return { verdict: { tag: 'continue' }, addHeaders: [], tags: [], rule: undefined };
}

export const hooks = {
  implemented() { return ['data']; },
  onConnect() { return proceed(); },
  onHelo() { return proceed(); },
  onAuth() { return proceed(); },
  onMailFrom() { return proceed(); },
  onRcptTo() { return proceed(); },
  onData(session, message) {
    const allowed = (config('allowed_types') ?? 'application/pdf,text/plain')
      .split(',').map((t) => t.trim().toLowerCase()).filter((t) => t);
    for (const a of message.attachments()) {
      if (!allowed.includes(a.contentType)) {
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
