// omo dashboard: one page script, no build step. Every figure comes from a
// JSON endpoint under /admin/v1 (the session cookie authenticates); values
// are put in the page as text, never as HTML.
(function () {
  'use strict';

  var main = document.getElementById('main');

  // el builds an element: attrs (class, href, data-*) and children (nodes
  // or text).
  function el(tag, attrs) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] != null) e.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c == null) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  function get(path, maybe) {
    return fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(function (r) {
      if (maybe && r.status === 404) return null;
      if (r.status === 401) { location.href = '/admin/login?next=' + encodeURIComponent(location.pathname); }
      if (!r.ok) throw new Error('GET ' + path + ' answered ' + r.status);
      return r.json();
    });
  }

  var num = function (n) { return n == null ? '–' : Number(n).toLocaleString('en-US'); };
  var rate = function (r) { return r == null ? '–' : (r * 100).toFixed(1) + '%'; };
  var change = function (p) { return p == null ? '–' : (p > 0 ? '+' : '') + p.toFixed(1) + '%'; };

  // n is a number cell or card value tests and people can read: data-k
  // names the figure, data-v holds it raw.
  function n(key, v) { return el('span', { 'data-k': key, 'data-v': v == null ? '' : String(v) }, num(v)); }

  function card(label, value, detail) {
    return el('div', { class: 'card' }, el('div', { class: 'k' }, label), el('div', { class: 'v' }, value), detail ? el('div', { class: 'd' }, detail) : null);
  }

  // table's first left columns hold text (left-aligned), the rest figures.
  function table(head, rows, id, left) {
    left = left || 1;
    var cls = function (i) { return i < left ? { class: 'l' } : {}; };
    var t = el('table', id ? { id: id } : {});
    var tr = el('tr');
    head.forEach(function (h, i) { tr.append(el('th', cls(i), h)); });
    t.append(el('thead', {}, tr));
    var body = el('tbody');
    rows.forEach(function (r) {
      var row = el('tr');
      r.forEach(function (c, i) { row.append(el('td', cls(i), c)); });
      body.append(row);
    });
    if (rows.length === 0) body.append(el('tr', {}, el('td', { colspan: String(head.length), class: 'muted l' }, 'Nothing yet.')));
    t.append(body);
    return t;
  }

  var colors = ['#07c160', '#1a73e8', '#f4a300', '#9b59b6', '#e74c3c', '#16a085', '#7f8c8d'];

  function chart(parent, id, config, small) {
    var box = el('div', { class: small ? 'chart small' : 'chart' });
    var canvas = el('canvas', { id: id });
    box.append(canvas);
    parent.append(box);
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: 'bottom' } } }, config.options || {});
    // Every value axis counts things: whole ticks only.
    var scales = config.options.scales || {};
    ['x', 'y'].forEach(function (a) {
      scales[a] = Object.assign({}, scales[a]);
      scales[a].ticks = Object.assign({ precision: 0 }, scales[a].ticks);
    });
    config.options.scales = scales;
    (config.data.datasets || []).forEach(function (d, i) {
      if (!d.backgroundColor) d.backgroundColor = colors[i % colors.length];
      if (!d.borderColor) d.borderColor = colors[i % colors.length];
    });
    return new Chart(canvas, config);
  }

  function panel(title) {
    var p = el('section', { class: 'panel' });
    if (title) p.append(el('h2', {}, title));
    main.append(p);
    return p;
  }

  // --- overview -----------------------------------------------------------

  function overview() {
    return get('/admin/v1/dashboard/overview?days=30').then(function (o) {
      main.replaceChildren(el('h1', {}, 'Overview'));
      var c = o.compare;
      var vs = function (k) {
        return 'vs day before ' + change(c.change.day_before[k]) + ' · week ' + change(c.change.week_before[k]) + ' · month ' + change(c.change.month_before[k]);
      };
      main.append(el('div', { class: 'cards' },
        card('Followers now', n('followers_now', o.followers_now)),
        card('Today so far: new follows', n('today.follows', c.today.follows), 'unfollows ' + num(c.today.unfollows) + ' · net ' + num(c.today.net)),
        card('Yesterday (' + c.yesterday.date + '): new follows', n('yesterday.follows', c.yesterday.follows), vs('follows')),
        card('Yesterday: unfollows', n('yesterday.unfollows', c.yesterday.unfollows), vs('unfollows')),
        card('Yesterday: net growth', n('yesterday.net', c.yesterday.net), vs('net'))));

      var p = panel('Follows by source, unfollows and net growth per day (' + o.timezone + ')');
      var labels = o.days.map(function (d) { return d.date.slice(5); });
      var src = function (k) { return o.days.map(function (d) { return d.by_source[k]; }); };
      chart(p, 'chart-growth', {
        type: 'bar',
        data: { labels: labels, datasets: [
          { label: 'Store QR', data: src('store'), stack: 'f' },
          { label: 'Referral', data: src('referral'), stack: 'f' },
          { label: 'Search / no scene', data: src('search'), stack: 'f' },
          { label: 'Other QR', data: src('other'), stack: 'f' },
          { label: 'Unfollows', data: o.days.map(function (d) { return -d.unfollows; }), stack: 'f', backgroundColor: '#e74c3c' },
          { label: 'Net', data: o.days.map(function (d) { return d.net; }), type: 'line', borderColor: '#1d2733', backgroundColor: '#1d2733' }
        ] },
        options: { scales: { x: { stacked: true }, y: { stacked: true } } }
      });

      var cp = panel('Yesterday compared');
      var row = function (name, d) { return [name + ' (' + d.date + ')', num(d.follows), num(d.unfollows), num(d.net)]; };
      cp.append(table(['day', 'follows', 'unfollows', 'net'], [
        row('Yesterday', c.yesterday), row('Day before', c.day_before), row('Week before', c.week_before), row('Month before', c.month_before)
      ], 'compare'));

      var dp = panel('Per day');
      dp.append(table(['date', 'follows', 'store QR', 'referral', 'search / no scene', 'other QR', 'unfollows', 'net'],
        o.days.slice().reverse().map(function (d) {
          return [d.date, n('day.' + d.date + '.follows', d.follows), num(d.by_source.store), num(d.by_source.referral),
            num(d.by_source.search), num(d.by_source.other), num(d.unfollows), num(d.net)];
        }), 'days'));
      dp.append(el('p', { class: 'note' }, 'A follow counts once per push (WeChat\u2019s retries are deduplicated). "Search / no scene" is every follow whose push names no QR scene: WeChat does not say whether it came from search, a name card or an article.'));
    });
  }

  // --- campaigns ----------------------------------------------------------

  var stages = [['fired', 'fired'], ['sent', 'sent'], ['delivered', 'delivered'], ['opened', 'opened'], ['coupons_issued', 'coupons issued'], ['coupons_redeemed', 'redeemed']];

  function campaigns() {
    return get('/admin/v1/dashboard/campaigns').then(function (d) {
      main.replaceChildren(el('h1', {}, 'Campaigns'));
      var p = panel('Funnels');
      chart(p, 'chart-funnels', {
        type: 'bar',
        data: { labels: d.campaigns.map(function (c) { return c.id; }), datasets: stages.map(function (s) {
          return { label: s[1], data: d.campaigns.map(function (c) { return c.funnel[s[0]]; }) };
        }) }
      });
      var tp = panel('Every campaign');
      tp.append(table(['campaign', 'trigger', ''].concat(stages.map(function (s) { return s[1]; }), ['sent %', 'opened %', 'redeemed %']),
        d.campaigns.map(function (c) {
          var f = c.funnel;
          return [el('a', { href: '/admin/campaigns/' + encodeURIComponent(c.id) }, c.id + (c.title ? ' · ' + c.title : '')), c.event,
            el('span', { class: c.active ? 'badge on' : 'badge' }, c.active ? 'active' : 'inactive')]
            .concat(stages.map(function (s) { return n(c.id + '.' + s[0], f[s[0]]); }),
              [rate(f.rates.sent), rate(f.rates.opened), rate(f.rates.coupons_redeemed)]);
        }), 'campaigns', 3));
      tp.append(el('p', { class: 'note' }, 'Rates: sent of fired, opened of sent, redeemed of coupons issued.'));
    });
  }

  function campaign(id) {
    var q = encodeURIComponent(id);
    return Promise.all([
      get('/admin/v1/campaigns/' + q + '/funnel?days=30'),
      get('/admin/v1/campaigns/' + q + '/variants', true),
      get('/admin/v1/campaigns/' + q + '/firings', true)
    ]).then(function (r) {
      var c = r[0], v = r[1], slots = r[2];
      var f = c.funnel;
      main.replaceChildren(el('h1', {}, 'Campaign ' + c.id + (c.title ? ' · ' + c.title : '')),
        el('p', { class: 'muted' }, 'Trigger: ' + c.event + ' · ' + (c.active ? 'active now' : 'not active now') + ' · ', el('a', { href: '/admin/campaigns' }, 'all campaigns')));
      var rates = { sent: f.rates.sent, delivered: f.rates.delivered, opened: f.rates.opened, coupons_issued: f.rates.coupons_issued, coupons_redeemed: f.rates.coupons_redeemed };
      main.append(el.apply(null, ['div', { class: 'cards' }].concat(stages.map(function (s) {
        return card(s[1], n('funnel.' + s[0], f[s[0]]), s[0] === 'fired' ? (f.failed ? 'failed ' + num(f.failed) : null) : rate(rates[s[0]]));
      }))));
      if (v) variants(v);
      var grid = el('div', { class: 'grid2' });
      main.append(grid);
      var p1 = el('section', { class: 'panel' }, el('h2', {}, 'Funnel'));
      var p2 = el('section', { class: 'panel' }, el('h2', {}, 'Firings per day'));
      grid.append(p1, p2);
      chart(p1, 'chart-funnel', {
        type: 'bar',
        data: { labels: stages.map(function (s) { return s[1]; }), datasets: [{ label: c.id, data: stages.map(function (s) { return f[s[0]]; }) }] },
        options: { indexAxis: 'y', plugins: { legend: { display: false } } }
      });
      chart(p2, 'chart-firings', {
        type: 'bar',
        data: { labels: c.days.map(function (d) { return d.date.slice(5); }), datasets: [
          { label: 'fired', data: c.days.map(function (d) { return d.fired; }) },
          { label: 'sent', data: c.days.map(function (d) { return d.sent; }) }] }
      });
      if (slots && slots.firings && slots.firings.length) {
        var sp = panel('Schedule slots');
        sp.append(table(['slot', 'state', 'planned', 'sent', 'failed', 'pending', 'delivered', 'opened'], slots.firings.map(function (s) {
          return [new Date(s.slot).toLocaleString(), s.state + (s.reason ? ' (' + s.reason + ')' : ''), num(s.stats.planned), num(s.stats.sent),
            num(s.stats.failed), num(s.stats.pending), num(s.stats.delivered), num(s.stats.opened)];
        }), 'slots', 2));
      }
    });
  }

  // metrics says what a split's metric counts, in words.
  var metrics = { opened: 'opened of sent', redeemed: 'coupons redeemed of coupons issued' };

  // when formats a time the API gives (UTC) as Asia/Shanghai, where the
  // dashboard counts its days.
  function when(t) {
    var d = new Date(new Date(t).getTime() + 8 * 3600 * 1000).toISOString();
    return d.slice(0, 10) + ' ' + d.slice(11, 16) + ' Shanghai';
  }

  // variants shows an A/B split (GET .../variants) side by side, the
  // recorded winner and the test as it stands now, in plain words.
  function variants(v) {
    var p = panel('A/B split: winner by ' + v.metric + ' (' + (metrics[v.metric] || v.metric) + ')');
    var list = v.variants || [];
    var t = v.test || {};
    if (v.winner) {
      var d = v.decision || {};
      p.append(el('p', { id: 'variants-winner', class: 'winner' }, 'Winner: ' + v.winner + ' ★',
        el('span', { class: 'muted' }, ' · declared ' + when(v.decided_at) + (d.reason ? ': ' + d.reason : '') +
          '. Every new firing now runs ' + v.winner + '’s actions.')));
    }
    var cols = [['weight', 'weight'], ['fired', 'fired'], ['sent', 'sent'], ['delivered', 'delivered'], ['opened', 'opened'],
      ['coupons_issued', 'coupons issued'], ['coupons_redeemed', 'coupons redeemed']];
    p.append(table(['variant'].concat(cols.map(function (c) { return c[1]; }),
      ['rate (' + v.metric + ')', 'sample', 'delivered %', 'opened %', 'redeemed %']), list.map(function (x) {
      var rs = x.rates || {};
      return [el('span', { 'data-k': 'variant.' + x.name + '.name', 'data-v': x.name }, x.name + (v.winner === x.name ? ' ★ winner' : ''))]
        .concat(cols.map(function (c) { return n('variant.' + x.name + '.' + c[0], x[c[0]]); }), [
          el('span', { 'data-k': 'variant.' + x.name + '.rate', 'data-v': String(x.rate) }, x.sample ? rate(x.rate) : '–'),
          n('variant.' + x.name + '.sample', x.sample),
          x.sent ? rate(rs.delivered) : '–', x.sent ? rate(rs.opened) : '–',
          x.coupons_issued ? rate(rs.redeemed) : '–']);
    }), 'variants'));
    var words;
    if (v.winner) words = 'The test now: ';
    else if (t.significant) words = 'No winner recorded yet, but the test passes now (omo records it at its next round, every 30 s): ';
    else words = 'No winner yet \u2014 ';
    var sig = t.best ? ' Best so far: ' + t.best + (t.against ? ', against ' + t.against : '') + '; z = ' + Number(t.z || 0).toFixed(2) +
      ', p = ' + Number(t.p == null ? 1 : t.p).toFixed(3) + '.' : '';
    p.append(el('p', { id: 'variants-test' }, words + (t.reason || '') + '.' + sig));
    p.append(el('p', { class: 'note' }, 'A winner is declared once every variant has at least ' + num(v.min_sample) + ' ' +
      (v.metric === 'redeemed' ? 'coupons issued' : 'messages sent') + ' and the best rate beats every other in a two-sided z-test at ' +
      Math.round((v.confidence || 0) * 1000) / 10 + '% confidence.'));
    if (list.length) {
      chart(p, 'chart-variants', {
        type: 'bar',
        data: { labels: list.map(function (x) { return x.name; }), datasets: cols.slice(2).filter(function (c) {
          return c[0].indexOf('coupons') < 0 || list.some(function (x) { return x.coupons_issued > 0; });
        }).map(function (c) { return { label: c[1], data: list.map(function (x) { return x[c[0]]; }) }; }) }
      }, true);
    }
  }

  // --- stores -------------------------------------------------------------

  function stores() {
    return get('/admin/v1/dashboard/stores').then(function (d) {
      main.replaceChildren(el('h1', {}, 'Stores'));
      var top = d.stores.slice(0, 10);
      var p = panel('Ranking (top 10 by follows, then coupons redeemed)');
      chart(p, 'chart-stores', {
        type: 'bar',
        data: { labels: top.map(function (s) { return s.name ? s.id + ' ' + s.name : s.id; }), datasets: [
          { label: 'follows', data: top.map(function (s) { return s.follows; }) },
          { label: 'scans', data: top.map(function (s) { return s.scans; }) },
          { label: 'coupons issued', data: top.map(function (s) { return s.coupons_issued; }) },
          { label: 'coupons redeemed', data: top.map(function (s) { return s.coupons_redeemed; }) }] },
        options: { indexAxis: 'y' }
      });
      var tp = panel('Every store');
      tp.append(table(['#', 'store', 'name', 'city', 'follows', 'new followers', 'scans', 'coupons issued', 'redeemed'], d.stores.map(function (s) {
        return [String(s.rank), s.id, s.name, s.city, n(s.id + '.follows', s.follows), n(s.id + '.new_followers', s.new_followers),
          n(s.id + '.scans', s.scans), n(s.id + '.coupons_issued', s.coupons_issued), n(s.id + '.coupons_redeemed', s.coupons_redeemed)];
      }), 'stores', 4));
      tp.append(el('p', { class: 'note' }, 'Follows and scans through the store\u2019s QR code; coupons issued through it (its QR code or a promotion of it) and redeemed at its till.'));
    });
  }

  // --- referral -----------------------------------------------------------

  var reasons = {
    self_referral: 'invited themselves', not_new: 'not a new follower', already_referred: 'already referred by someone else',
    loop: 'a referral loop (A→B→A)', daily_cap: 'referrer over the daily cap', unknown_code: 'unknown code',
    no_active_program: 'no program running', unfollowed_within_hold: 'unfollowed within the hold'
  };

  function referral() {
    return get('/admin/v1/dashboard/referral').then(function (d) {
      main.replaceChildren(el('h1', {}, 'Referral program'));
      if (d.programs.length === 0) main.append(el('p', { class: 'muted' }, 'No referral program is running.'));
      d.programs.forEach(function (pg) {
        var st = pg.stats;
        main.append(el('h2', {}, pg.id + (pg.title ? ' · ' + pg.title : '') + ' ', el('span', { class: pg.active ? 'badge on' : 'badge' }, pg.active ? 'active' : 'inactive')));
        var refused = Object.keys(st.rejected).sort();
        var totalRefused = refused.reduce(function (a, k) { return a + st.rejected[k]; }, 0);
        main.append(el('div', { class: 'cards' },
          card('Invites', n(pg.id + '.invites', st.invites)), card('Held', n(pg.id + '.held', st.held)),
          card('Qualified', n(pg.id + '.qualified', st.qualified), rate(st.invites ? st.qualified / st.invites : null) + ' of invites'),
          card('Cancelled', n(pg.id + '.cancelled', st.cancelled)), card('Refused', n(pg.id + '.refused', totalRefused)),
          card('Rewards issued', n(pg.id + '.rewards_issued', st.rewards_issued))));
        var grid = el('div', { class: 'grid2' });
        main.append(grid);
        var p1 = el('section', { class: 'panel' }, el('h2', {}, 'Refusals by reason'));
        var p2 = el('section', { class: 'panel' }, el('h2', {}, 'Leaderboard (top 10)'));
        grid.append(p1, p2);
        chart(p1, 'chart-refusals-' + pg.id, {
          type: 'bar',
          data: { labels: refused.map(function (k) { return reasons[k] || k; }), datasets: [{ label: 'refused', data: refused.map(function (k) { return st.rejected[k]; }), backgroundColor: '#e74c3c' }] },
          options: { indexAxis: 'y', plugins: { legend: { display: false } } }
        }, true);
        p1.append(table(['reason', 'count'], refused.map(function (k) { return [(reasons[k] || k) + ' (' + k + ')', n(pg.id + '.rejected.' + k, st.rejected[k])]; })));
        p2.append(table(['#', 'referrer', 'code', 'qualified', 'held'], pg.leaderboard.map(function (r, i) {
          return [String(i + 1), r.referrer, r.code, n(pg.id + '.leader.' + r.code + '.qualified', r.qualified), num(r.held)];
        }), 'leaderboard-' + pg.id, 3));
      });
    });
  }

  // --- sends --------------------------------------------------------------

  var errcodes = {
    '-1': 'WeChat busy', 40001: 'access token invalid', 42001: 'access token expired', 40003: 'openid invalid',
    43004: 'not following', 43101: 'subscription refused or used up', 45009: 'daily quota spent', 45011: 'too frequent',
    45015: 'reply window over', 45047: 'too many customer messages'
  };

  // ago says how long s seconds are, to the unit that matters.
  function ago(s) {
    if (s < 120) return Math.round(s) + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.floor(s / 86400) + ' d ' + Math.round((s % 86400) / 3600) + ' h';
  }

  var outcomeColor = { delivered: '#07c160', sent: '#1a73e8', pending: '#f4a300', failed: '#e74c3c' };

  function sends() {
    return get('/admin/v1/dashboard/sends').then(function (d) {
      main.replaceChildren(el('h1', {}, 'Sends'));
      var total = d.counts.reduce(function (a, c) { return a + c.count; }, 0);
      var failed = d.counts.reduce(function (a, c) { return a + (c.outcome === 'failed' ? c.count : 0); }, 0);
      var age = d.outbox.oldest_due_at ? ago(d.outbox.oldest_age_seconds) : 'nothing due';
      main.append(el('div', { class: 'cards' },
        card('Messages', n('messages', total)), card('Failed', n('failed', failed), rate(total ? failed / total : null)),
        card('Outbox pending', n('outbox.pending', d.outbox.pending)),
        card('Oldest due item waiting', el('span', { 'data-k': 'outbox.oldest_age' }, age))));
      var kinds = [], outcomes = [];
      d.counts.forEach(function (c) {
        if (kinds.indexOf(c.kind) < 0) kinds.push(c.kind);
        if (outcomes.indexOf(c.outcome) < 0) outcomes.push(c.outcome);
      });
      var p = panel('Messages by kind and outcome');
      chart(p, 'chart-sends', {
        type: 'bar',
        data: { labels: kinds, datasets: outcomes.map(function (o) {
          return { label: o, stack: 's', backgroundColor: outcomeColor[o], borderColor: outcomeColor[o], data: kinds.map(function (k) {
            return d.counts.reduce(function (a, c) { return a + (c.kind === k && c.outcome === o ? c.count : 0); }, 0);
          }) };
        }) },
        options: { scales: { x: { stacked: true }, y: { stacked: true } } }
      });
      var tp = panel('By kind, outcome and errcode');
      tp.append(table(['kind', 'outcome', 'errcode', 'count'], d.counts.map(function (c) {
        return [c.kind, c.outcome, c.errcode ? c.errcode + ' ' + (errcodes[c.errcode] || '') : '', n(c.kind + '.' + c.outcome + '.' + c.errcode, c.count)];
      }), 'sends', 3));
      var op = panel('Outbox: pending by kind');
      op.append(table(['kind', 'pending'], Object.keys(d.outbox.pending_by_kind).sort().map(function (k) {
        return [k, n('outbox.' + k, d.outbox.pending_by_kind[k])];
      }), 'outbox'));
    });
  }

  // --- routing ------------------------------------------------------------

  function route(path) {
    var m = path.match(/^\/admin\/campaigns\/(.+)$/);
    if (m) return ['campaigns', function () { return campaign(decodeURIComponent(m[1])); }];
    var pages = { '/admin/': ['overview', overview], '/admin/campaigns': ['campaigns', campaigns], '/admin/stores': ['stores', stores],
      '/admin/referral': ['referral', referral], '/admin/sends': ['sends', sends] };
    return pages[path] || ['overview', overview];
  }

  function start() {
    var r = route(location.pathname);
    document.querySelectorAll('nav a').forEach(function (a) { if (a.dataset.page === r[0]) a.classList.add('on'); });
    r[1]().then(function () {
      document.body.dataset.ready = '1';
    }, function (err) {
      main.replaceChildren(el('p', { class: 'err', id: 'load-error' }, 'Could not load this page: ' + err.message));
      document.body.dataset.ready = 'error';
    });
  }

  if (typeof Chart === 'undefined') {
    main.replaceChildren(el('p', { class: 'err' }, 'Chart.js did not load.'));
    document.body.dataset.ready = 'error';
  } else {
    start();
  }
})();
