#!/usr/bin/env node
// A debtor system for one municipality, written from the simulator's served WSDLs and its docs only
// (docs/contracts/sf1590.md, sortiment.md, beskedfordeler.md, scenarios.md, onboarding.md) with the npm
// package `soap` (node-soap). It keeps its own books, refuses claim types that are not in the sortiment it
// acknowledged, covers KY's payments (RegistrerDaekning), writes off on request and publishes both
// Beskedfordeler messages. FAULT=<mode> makes it wrong in one way (see FAULTS below).
//
// Configuration (env): PORT, SIMULATOR_URL, CVR, SYSTEM_UUID, DAEKNING_AGREEMENT_UUID,
// DAEKNING_SERVICE_UUID, USER_UUID (optional), FAULT (optional).
'use strict';
const http = require('http');
const crypto = require('crypto');
const soap = require('soap');

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`set ${name}`);
  return v;
};
const CFG = {
  port: Number(env('PORT', '8001')),
  sim: env('SIMULATOR_URL', 'http://127.0.0.1:8000').replace(/\/$/, ''),
  cvr: env('CVR', '11111111'),
  system: env('SYSTEM_UUID', '706e258a-41f3-4a3b-a407-216db3ead494'), // opus in routes/systems.yaml
  daekningAgreement: env('DAEKNING_AGREEMENT_UUID', '0908f8ba-4353-45cf-937a-401ce57c4501'),
  daekningService: env('DAEKNING_SERVICE_UUID', '67275f52-f9a2-484e-a869-92cad1a5572c'),
  user: env('USER_UUID', crypto.randomUUID()),
  fault: env('FAULT', ''),
};
// One wrong behaviour at a time, for the readiness negative tests.
const FAULTS = {
  restbeloeb: 'answers every claim\'s Restbeloeb 0.01 too high (1b)',
  never_cover: 'acknowledges payments but never covers them (1c)',
  cover_amount: 'reports a coverage of 0.01 less than the payment (1c)',
  claim_missing: 'leaves the account\'s last claim out of LaesDebitorkonto (1b)',
  status_lukket: 'announces the new account as lukket while money is outstanding (1e)',
  contract: 'answers LaesDebitorkonto with an element the contract does not have (1b)',
  one_message: 'publishes DebitorkontoStatusskift only, never FordringTilIndbetaling (1e)',
  refuse_claim_types: 'refuses every claim type, also those of the sortiment (1a)',
};
if (CFG.fault && !FAULTS[CFG.fault]) throw new Error(`unknown FAULT ${CFG.fault}: ${Object.keys(FAULTS)}`);

const NS = {
  kv: 'http://serviceplatformen.dk/xml/schemas/kvittering/1/',
  deb: 'http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/',
  ic: 'http://serviceplatformen.dk/xml/schemas/InvocationContext/1/',
  wsdl: (area, svc) => `http://serviceplatformen.dk/xml/wsdl/soap11/${area}/${svc}/1/`,
};

// ---- small helpers -------------------------------------------------------------------------------
// node-soap turns xs:date into a JS Date (a time zone away from the day) and xs:decimal into a float: keep the
// lexical forms the contract sends.
const AS_SENT = Object.fromEntries(['date', 'dateTime', 'decimal', 'int', 'integer', 'long', 'short', 'boolean']
  .map((t) => [t, (lexical) => lexical]));
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const el = (name, body) => (body === undefined || body === null ? '' : `<${name}>${body}</${name}>`);
const list = (x) => (x === undefined || x === null ? [] : Array.isArray(x) ? x : [x]);
const text = (x) => (x === undefined || x === null ? undefined : typeof x === 'object' ? x.$value : String(x));
const oere = (x) => Math.round(Number(text(x)) * 100); // amounts kept in øre, never as floats
const kr = (o) => (o / 100).toFixed(2);
const today = () => new Date().toISOString().slice(0, 10);
const log = (...a) => console.log(new Date().toISOString(), ...a);

function kvittering(prefix, code, fejl) {
  // SF2900 Forretningskvittering; fejl = [FejlKode, FejlTekst]
  const fl = fejl ? el(`${prefix}:FejlListe`, el(`${prefix}:Fejl`, el(`${prefix}:FejlKode`, fejl[0]) + el(`${prefix}:FejlTekst`, esc(fejl[1])))) : '';
  return el(`${prefix}:ForretningsValideringsKode`, code) + (fejl ? el(`${prefix}:Begrundelse`, esc(fejl[1])) : '') + fl;
}
// A response element written as XML: node-soap puts it into the envelope as it is (`_xml`). Its own serializer
// would write the whole answer in the WSDL namespace, not Forretningskvittering in kv: and the fields in d:.
function response(svc, op, inner, extra = '') {
  const x = `<r:${op}Response xmlns:r="${NS.wsdl('OIR', svc)}" xmlns:kv="${NS.kv}" xmlns:d="${NS.deb}">` +
    `<kv:Forretningskvittering>${inner}</kv:Forretningskvittering>${extra}</r:${op}Response>`;
  return { _xml: x };
}
const ok = (svc, op, extra) => response(svc, op, kvittering('kv', 'ACCEPTERET'), extra);
const refuse = (svc, op, code, why) => { log('AFVIST', op, code, why); return response(svc, op, kvittering('kv', 'AFVIST', [code, why])); };

// ---- the books -------------------------------------------------------------------------------------
const accounts = new Map(); // DebitorkontoUUID -> account
const claims = new Map(); // FordringUUID -> claim (with .account)
const sortiment = { version: 0, uuid: null, facets: new Map(), klasser: new Map() };

const outstanding = (c) => c.beloeb - c.posteringer.reduce((s, p) => s + p.beloeb, 0);
// what SoegDebitorkonto/LaesDebitorkonto answer (the `restbeloeb` fault is in these answers only)
const answered = (c) => outstanding(c) + (CFG.fault === 'restbeloeb' ? 1 : 0);
const accountAnswered = (a) => a.claims.reduce((s, c) => s + answered(c), 0);

function claimTypeProblem(uuid) {
  if (CFG.fault === 'refuse_claim_types') return `fordringstype ${uuid} is not accepted`;
  const k = sortiment.klasser.get(uuid);
  if (!k) return `fordringstype ${uuid} is not in sortiment version ${sortiment.version}`;
  if (sortiment.facets.get(k.facet) !== 'KY-FORDRINGSTYPE') return `Klasse ${k.noegle} is no fordringstype`;
  if (k.til && new Date(k.til) <= new Date()) return `fordringstype ${k.noegle} ended ${k.til}`;
  return null;
}

function party(p) {
  return p ? { cpr: text(p.CPR), cvr: text(p.CVR), navn: text(p.Navn) } : {};
}
const partXml = (p) => el('d:CPR', p.cpr) + el('d:CVR', p.cvr) + el('d:Navn', p.navn && esc(p.navn));

// ---- KY -> debtor services --------------------------------------------------------------------------
const REG = 'DebitorRegistreringAfsend';
const registrering = {
  OpretDebitorkonto(args) {
    const k = args.Debitorkonto;
    const id = text(k.DebitorkontoUUID);
    if (accounts.has(id)) return refuse(REG, 'OpretDebitorkonto', 'ND-001', `account ${id} exists already`);
    for (const f of list(k.Fordring)) {
      const problem = claimTypeProblem(text(f.FordringstypeUUID));
      if (problem) return refuse(REG, 'OpretDebitorkonto', 'ND-010', problem);
    }
    const h = k.Hovedoplysninger;
    const account = {
      id, version: text(h.Version), type: text(h.DebitorkontoType), ejer: text(h.EjerSystem),
      beskrivelse: text(h.Beskrivelse), debitor: party(k.Debitor), status: 'aktiv',
      haeftelser: list(k.Haeftelse).map((x) => ({
        id: text(x.HaeftelseUUID), rolle: text(x.Rolle), part: party(x.Part), fra: text(x.GyldigFra), til: text(x.GyldigTil),
      })),
      claims: [],
    };
    for (const f of list(k.Fordring)) {
      const c = {
        id: text(f.FordringUUID), type: text(f.FordringstypeUUID), tilstand: text(f.Tilstand) || 'Aktiv',
        beloeb: oere(f.Beloeb), account,
        delfordringer: list(f.Delfordring).map((d) => ({ id: text(d.DelfordringUUID), beloeb: oere(d.Beloeb) })),
        indbetalinger: [], posteringer: [],
      };
      account.claims.push(c);
      claims.set(c.id, c);
    }
    accounts.set(id, account);
    log('registered account', id, 'claims', account.claims.map((c) => c.id).join(','));
    afterAnswer(() => sendStatusskift(account, 'oprettet', CFG.fault === 'status_lukket' ? 'lukket' : 'aktiv'));
    return ok(REG, 'OpretDebitorkonto');
  },
  RetFordringTilstand(args) {
    const c = claims.get(text(args.FordringUUID));
    if (!c) return refuse(REG, 'RetFordringTilstand', 'ND-004', 'unknown claim');
    c.tilstand = text(args.Tilstand);
    if (args.NedreguleringBeloeb !== undefined) {
      c.posteringer.push({ id: text(args.NedreguleringUUID) || crypto.randomUUID(), art: 'Nedregulering', beloeb: oere(args.NedreguleringBeloeb), dato: today() });
    }
    return ok(REG, 'RetFordringTilstand');
  },
  AfslutHaeftelse: (args) => endLiability('AfslutHaeftelse', args),
  AfslutAdministrator: (args) => endLiability('AfslutAdministrator', args),
};
function endLiability(op, args) {
  const a = accounts.get(text(args.DebitorkontoUUID));
  const h = a && a.haeftelser.find((x) => x.id === text(args.HaeftelseUUID));
  if (!h) return refuse(REG, op, 'ND-005', 'unknown account or liability');
  h.til = text(args.GyldigTil);
  return ok(REG, op);
}

const FORESP = 'DebitorForespoergselAfsend';
const foresporgsel = {
  SoegDebitorkonto(args) {
    const p = party(args.Part);
    const found = [...accounts.values()].filter((a) => (p.cpr && a.debitor.cpr === p.cpr) || (p.cvr && a.debitor.cvr === p.cvr));
    const body = found.map((a) => el('r:Debitorkonto', el('d:DebitorkontoUUID', a.id) + el('d:DebitorkontoType', a.type) +
      el('d:Status', a.status) + el('d:Restbeloeb', kr(accountAnswered(a))))).join('');
    return ok(FORESP, 'SoegDebitorkonto', body);
  },
  LaesDebitorkonto(args) {
    const a = accounts.get(text(args.DebitorkontoUUID));
    if (!a) return refuse(FORESP, 'LaesDebitorkonto', 'ND-003', 'unknown account');
    const hoved = el('d:Version', a.version) + el('d:DebitorkontoType', a.type) + el('d:EjerSystem', a.ejer && esc(a.ejer)) +
      el('d:Beskrivelse', a.beskrivelse && esc(a.beskrivelse));
    const haeft = a.haeftelser.map((h) => el('d:Haeftelse', el('d:HaeftelseUUID', h.id) + el('d:Rolle', h.rolle) +
      el('d:Part', partXml(h.part)) + el('d:GyldigFra', h.fra) + el('d:GyldigTil', h.til))).join('');
    const shown = CFG.fault === 'claim_missing' ? a.claims.slice(0, -1) : a.claims;
    const fordr = shown.map((c) => el('d:Fordring', el('d:FordringUUID', c.id) + el('d:Tilstand', c.tilstand) +
      el('d:Beloeb', kr(c.beloeb)) + el('d:Restbeloeb', kr(answered(c))) +
      c.delfordringer.map((d) => el('d:Delfordring', el('d:DelfordringUUID', d.id) + el('d:Beloeb', kr(d.beloeb)))).join('') +
      c.indbetalinger.map((i) => el('d:Indbetaling', el('d:IndbetalingUUID', i.id) + el('d:FordringUUID', c.id) +
        el('d:Beloeb', kr(i.beloeb)) + el('d:Valoerdato', i.dato))).join('') +
      c.posteringer.map((p) => el('d:Postering', el('d:PosteringUUID', p.id) + el('d:Art', p.art) + el('d:FordringUUID', c.id) +
        el('d:IndbetalingUUID', p.indbetaling) + el('d:Beloeb', kr(p.beloeb)) + el('d:Dato', p.dato))).join(''))).join('');
    const konto = el('r:Debitorkonto', el('d:DebitorkontoUUID', a.id) + el('d:Hovedoplysninger', hoved) +
      el('d:Debitor', partXml(a.debitor)) + el('d:Status', a.status) + haeft + fordr + el('d:Restbeloeb', kr(accountAnswered(a))) +
      (CFG.fault === 'contract' ? el('d:Bemaerkning', 'not in the contract') : ''));
    return ok(FORESP, 'LaesDebitorkonto', konto);
  },
};

const INDB = 'DebitorIndbetalingAfsend';
const indbetaling = {
  ForetagIndbetaling(args) {
    const i = args.Indbetaling;
    const c = claims.get(text(i.FordringUUID));
    if (!c) return refuse(INDB, 'ForetagIndbetaling', 'ND-004', 'unknown claim');
    const pay = { id: text(i.IndbetalingUUID), beloeb: oere(i.Beloeb), dato: text(i.Valoerdato), del: text(i.DelfordringUUID) };
    if (pay.beloeb > outstanding(c)) return refuse(INDB, 'ForetagIndbetaling', 'ND-006', 'amount above outstanding');
    c.indbetalinger.push(pay);
    afterAnswer(() => cover(c, pay));
    return ok(INDB, 'ForetagIndbetaling');
  },
  // not part of the readiness checklist: each sub-claim is listed with its amount, coverages not spread onto it
  SoegDelfordringTilIndbetaling(args) {
    const id = text(args.DebitorkontoUUID);
    const rows = [...claims.values()].filter((c) => !id || c.account.id === id).flatMap((c) =>
      c.delfordringer.map((d) => el('r:DelfordringTilIndbetaling', el('d:DebitorkontoUUID', c.account.id) +
        el('d:FordringUUID', c.id) + el('d:DelfordringUUID', d.id) + el('d:Restbeloeb', kr(d.beloeb)))));
    return ok(INDB, 'SoegDelfordringTilIndbetaling', rows.join(''));
  },
};

// ---- Klassifikation -> debtor: SortimentModtag --------------------------------------------------------
function sortimentModtag(args) {
  const s = args.Sortiment;
  const fail = (code, why) => sortimentKvittering(s, 'AFVIST', sortiment.version, [code, why]);
  const municipality = text(args.AuthorityContext && args.AuthorityContext.MunicipalityCVR);
  if (municipality !== CFG.cvr) return fail('FORKERT-KOMMUNE', `this endpoint serves ${CFG.cvr}, not ${municipality}`);
  const type = text(s.LeveranceType);
  const version = Number(text(s.Version));
  if (type === 'Aendring' && Number(text(s.ForrigeVersion)) !== sortiment.version) {
    return fail('UKENDT-FORRIGE-VERSION', `holds version ${sortiment.version}, not ${text(s.ForrigeVersion)}`);
  }
  if (type === 'Fuld') sortiment.klasser.clear();
  for (const f of list(s.Facetter && s.Facetter.Facet)) {
    const reg = list(f.Registrering).at(-1);
    sortiment.facets.set(text(f.UUIDIdentifikator), text(list(reg.AttributListe.Egenskab).at(-1).BrugervendtNoegleTekst));
  }
  for (const k of list(s.Klasser && s.Klasser.Klasse)) {
    const reg = list(k.Registrering).at(-1);
    const egenskab = list(reg.AttributListe.Egenskab).at(-1);
    const til = text(egenskab.Virkning && egenskab.Virkning.TilTidspunkt && egenskab.Virkning.TilTidspunkt.TidsstempelDatoTid);
    const facet = list(reg.RelationListe.Facet)[0];
    sortiment.klasser.set(text(k.UUIDIdentifikator), {
      noegle: text(egenskab.BrugervendtNoegleTekst), til, facet: text(facet.ReferenceID.UUIDIdentifikator),
    });
  }
  sortiment.version = version;
  log(`sortiment ${type} version ${version}: ${sortiment.klasser.size} Klasser`);
  return sortimentKvittering(s, 'ACCEPTERET', version);
}
function sortimentKvittering(s, code, version, fejl) {
  const p = 'sm';
  const body = el(`${p}:LeveranceUUID`, text(s.LeveranceUUID)) + el(`${p}:SortimentUUID`, text(s.SortimentUUID)) +
    el(`${p}:Forretningskvittering`, code) + el(`${p}:Version`, version) +
    (fejl ? el(`${p}:Begrundelse`, esc(fejl[1])) + el(`${p}:FejlListe`, el(`${p}:Fejl`, el(`${p}:FejlKode`, fejl[0]) + el(`${p}:FejlTekst`, esc(fejl[1])))) : '');
  return { _xml: `<sm:SortimentModtagResponse xmlns:sm="${NS.wsdl('Klassifikation', 'SortimentModtag')}"><sm:Kvittering>${body}</sm:Kvittering></sm:SortimentModtagResponse>` };
}

// ---- debtor -> KY: coverages and write-offs (node-soap client from the served WSDL) -------------------
const DAEKNING = 'DaekningAfskrivningRegistreringAfsend';
let kyClient;
async function ky() {
  // node-soap 1.x declares the namespace of a second `ref`'d element from another schema on the wrong element
  // (`ic:InvocationContext xmlns:ac=…`, refused SP-100 as malformed XML): declare it on the request element.
  kyClient ??= await soap.createClientAsync(`${CFG.sim}/service/OIR/${DAEKNING}/1?wsdl`, {
    customDeserializer: AS_SENT,
    overrideRootElement: {
      namespace: 'tns',
      xmlnsAttributes: [{ name: 'xmlns', value: NS.wsdl('OIR', DAEKNING) }, { name: 'xmlns:ic', value: NS.ic }],
    },
  });
  return kyClient;
}
const invocationContext = () => ({
  ServiceAgreementUUID: CFG.daekningAgreement, UserSystemUUID: CFG.system, UserUUID: CFG.user,
  ServiceUUID: CFG.daekningService, CallersServiceCallIdentifier: crypto.randomUUID(),
});
async function callKy(op, payload) {
  const client = await ky();
  const [result] = await client[`${op}Async`]({
    AuthorityContext: { MunicipalityCVR: CFG.cvr }, InvocationContext: invocationContext(), ...payload,
  });
  const kv = result.Forretningskvittering;
  const code = text(kv.ForretningsValideringsKode);
  const fejl = kv.FejlListe ? list(kv.FejlListe.Fejl).map((f) => `${text(f.FejlKode)}: ${text(f.FejlTekst)}`) : [];
  log(op, code, fejl.join('; '));
  return { status: code, fejl };
}

async function cover(c, pay) {
  const beloeb = pay.beloeb - (CFG.fault === 'cover_amount' ? 1 : 0);
  const posting = { id: crypto.randomUUID(), art: 'Daekning', beloeb, dato: today(), indbetaling: pay.id };
  if (CFG.fault === 'never_cover') return sendFordringTilIndbetaling(c); // the payment is never covered
  const out = await callKy('RegistrerDaekning', {
    Daekning: { DaekningUUID: posting.id, FordringUUID: c.id, DelfordringUUID: pay.del, IndbetalingUUID: pay.id, Beloeb: kr(beloeb), Dato: posting.dato },
  });
  if (out.status !== 'ACCEPTERET') return;
  c.posteringer.push(posting);
  await sendFordringTilIndbetaling(c);
}

async function writeOff(c, beloeb, aarsag) {
  const posting = { id: crypto.randomUUID(), art: 'Afskrivning', beloeb, dato: today() };
  const out = await callKy('RegistrerAfskrivning', {
    Afskrivning: { AfskrivningUUID: posting.id, FordringUUID: c.id, Beloeb: kr(beloeb), Dato: posting.dato, Aarsag: aarsag },
  });
  if (out.status === 'ACCEPTERET') c.posteringer.push(posting);
  return { ...out, afskrivning_uuid: posting.id };
}

// ---- debtor -> Beskedfordeler: Haendelsesbesked over HTTP (docs/beskedfordeler.md field table) --------
const BESKEDTYPE = {
  DebitorkontoStatusskift: '1a4419ff-47d1-4dc8-a900-4c747888edad',
  FordringTilIndbetaling: '25672fd7-e239-4bf3-8f8d-f15023857e0c',
};
const OBJEKT = { // the simulator's own Klasse UUIDs for ObjektType / ObjektHandling
  DebitorkontoStatusskift: ['5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d01', '5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d11'],
  FordringTilIndbetaling: ['5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d02', '5d2f3c55-0d3e-4a4c-9a1e-3b1f6a0c7d12'],
};
function besked(type, objektId, beskeddata) {
  const now = new Date().toISOString();
  const uuid = (v) => `<UUIDIdentifikator>${v}</UUIDIdentifikator>`;
  const tid = (v) => `<TidsstempelDatoTid>${v}</TidsstempelDatoTid>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<b:Haendelsesbesked xmlns:b="urn:oio:besked:kuvert:1.0" xmlns="urn:oio:sagdok:3.0.0">` +
    el('b:BeskedId', uuid(crypto.randomUUID())) + el('b:BeskedVersion', '1.0') +
    el('b:Beskedkuvert',
      el('b:Filtreringsdata',
        el('b:Beskedtype', uuid(BESKEDTYPE[type])) + el('b:BeskedAnsvarligAktoer', uuid(CFG.system)) +
        el('b:TilladtModtager', `<URNIdentifikator>urn:oio:cvr-nr:${CFG.cvr}</URNIdentifikator>`) +
        el('b:ObjektRegistrering',
          el('b:ObjektRegistreringId', uuid(crypto.randomUUID())) + el('b:RegistreringsAktoer', uuid(CFG.system)) +
          el('b:Registreringstidspunkt', tid(now)) +
          el('b:ObjektAnsvarligMyndighed', `<URNIdentifikator>urn:oio:cvr-nr:${CFG.cvr}</URNIdentifikator>`) +
          el('b:ObjektId', uuid(objektId)) + el('b:ObjektType', uuid(OBJEKT[type][0])) + el('b:ObjektHandling', uuid(OBJEKT[type][1])))) +
      el('b:Leveranceinformation', el('b:Dannelsestidspunkt', tid(now)) + el('b:Kildesystem', uuid(CFG.system)))) +
    el('b:Beskeddata', beskeddata) + '</b:Haendelsesbesked>';
}
async function publish(type, objektId, beskeddata) {
  const r = await fetch(`${CFG.sim}/beskedfordeler/afsend`, {
    method: 'POST', headers: { 'content-type': 'application/xml' }, body: besked(type, objektId, beskeddata),
  });
  const answer = await r.text();
  const kode = (answer.match(/StatusKode>(\d+)</) || [])[1];
  log('besked', type, r.status, kode, kode === '20' ? '' : answer);
  return kode;
}
function sendStatusskift(a, forrige, status) {
  const ns = 'urn:ky-debtor-simulator:beskeddata:debitorkontostatusskift:1';
  return publish('DebitorkontoStatusskift', a.id, `<DebitorkontoStatusskift xmlns="${ns}">` +
    el('DebitorkontoUUID', a.id) + el('MyndighedCVR', CFG.cvr) + el('ForrigeStatus', forrige) + el('Status', status) +
    el('StatusTidspunkt', new Date().toISOString()) + '</DebitorkontoStatusskift>');
}
function sendFordringTilIndbetaling(c) {
  if (CFG.fault === 'one_message') return null;
  const ns = 'urn:ky-debtor-simulator:beskeddata:fordringtilindbetaling:1';
  return publish('FordringTilIndbetaling', c.id, `<FordringTilIndbetaling xmlns="${ns}">` +
    el('FordringUUID', c.id) + el('DebitorkontoUUID', c.account.id) + el('MyndighedCVR', CFG.cvr) +
    el('BetalendeMyndigheder', el('MyndighedCVR', CFG.cvr)) + el('PeriodeFra', today()) +
    el('Beloeb', kr(outstanding(c))) + '</FordringTilIndbetaling>');
}

// Work that follows an answer (coverage, messages) starts once the answer went out, in order.
let queue = Promise.resolve();
let pendingAfterAnswer = [];
function afterAnswer(job) { pendingAfterAnswer.push(job); }
function flushAfterAnswer() {
  const jobs = pendingAfterAnswer;
  pendingAfterAnswer = [];
  for (const job of jobs) queue = queue.then(job).catch((e) => log('error', e.message));
}

// ---- admin endpoint: POST /admin/afskrivninger {claim_uuid, amount, aarsag?} ---------------------------
async function admin(req, res) {
  const body = JSON.parse((await readBody(req)) || '{}');
  const c = claims.get(body.claim_uuid);
  const send = (code, obj) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(obj)); };
  if (!c) return send(404, { detail: `unknown claim ${body.claim_uuid}` });
  const out = await writeOff(c, oere(body.amount), body.aarsag || 'Uerholdelig');
  return send(200, out);
}
const readBody = (req) => new Promise((ok, ko) => { let b = ''; req.on('data', (d) => { b += d; }); req.on('end', () => ok(b)); req.on('error', ko); });

// ---- start -------------------------------------------------------------------------------------------
const SERVICES = [
  ['OIR', REG, registrering], ['OIR', FORESP, foresporgsel], ['OIR', INDB, indbetaling],
  ['Klassifikation', 'SortimentModtag', { SortimentModtag: sortimentModtag }],
];
async function main() {
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/admin/afskrivninger') {
      admin(req, res).catch((e) => { res.writeHead(500); res.end(String(e)); });
      return;
    }
    if (req.url === '/healthz') { res.end(JSON.stringify({ ok: true, sortiment: sortiment.version })); return; }
    res.writeHead(404); res.end(); // node-soap answers the /<cvr>/service/... paths registered below
  });
  for (const [area, name, ops] of SERVICES) {
    const path = `/${CFG.cvr}/service/${area}/${name}/1`;
    const wsdl = await (await fetch(`${CFG.sim}/service/${area}/${name}/1?wsdl`)).text();
    const service = wsdl.match(/<wsdl:service name="([^"]+)"/)[1];
    const port = wsdl.match(/<wsdl:port name="([^"]+)"/)[1];
    // each operation: its answer goes out first, then the work it triggered (coverage, messages) starts
    const wrapped = Object.fromEntries(Object.entries(ops).map(([op, fn]) => [op, (args, cb, headers, req, res) => {
      res.on('finish', flushAfterAnswer);
      return fn(args);
    }]));
    await new Promise((resolve, reject) => soap.listen(server, {
      path, services: { [service]: { [port]: wrapped } }, xml: wsdl, uri: `${CFG.sim}/service/${area}/${name}/1`,
      customDeserializer: AS_SENT, callback: (err) => (err ? reject(err) : resolve()),
    }));
  }
  // the line a supervisor waits for: every service is served from here on
  server.listen(CFG.port, '127.0.0.1', () => log(`ready: node debtor for ${CFG.cvr} on ${CFG.port}${CFG.fault ? ` (fault: ${FAULTS[CFG.fault]})` : ''}`));
}
main().catch((e) => { console.error(e); process.exit(1); });
