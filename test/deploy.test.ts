import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { DEPLOYMENT_SECTION, parseEnvExample } from '../scripts/config-table.js';

const root = resolve(import.meta.dirname, '..');
const read = (f: string) => readFileSync(join(root, f), 'utf8');

describe('deployment files', () => {
  it('Dockerfile passes the linter', () => {
    const lint = spawnSync(
      process.execPath,
      [join(root, 'node_modules', 'dockerfile-utils', 'bin', 'dockerfile-utils'), 'lint', 'Dockerfile'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    assert.equal(lint.stdout.trim(), '', lint.stdout);
  });

  it('Dockerfile builds in one stage and runs compiled JS as a non-root user in another', () => {
    const text = read('Dockerfile');
    const stages = text.match(/^FROM .+$/gm) ?? [];
    assert.equal(stages.length, 2);
    const runtime = text.slice(text.lastIndexOf('\nFROM '));
    assert.match(runtime, /^USER node$/m);
    assert.match(runtime, /CMD \["node", "dist\/src\/main\.js"\]/);
    assert.doesNotMatch(runtime, /npm ci|tsx/);
  });

  it('docker-compose.yml wires MongoDB, the bot and NGINX with deploy/nginx.conf', () => {
    const compose = parse(read('docker-compose.yml')) as {
      services: Record<
        string,
        { image?: string; build?: string; environment?: Record<string, string>; volumes?: string[]; ports?: string[] }
      >;
    };
    assert.deepEqual(Object.keys(compose.services).sort(), ['bot', 'mongo', 'nginx']);
    assert.match(compose.services.bot!.environment!.MONGODB_URI!, /^mongodb:\/\/.+@mongo:27017\//);
    assert.ok(compose.services.nginx!.volumes!.some((v) => v.startsWith('./deploy/nginx.conf:')));
    assert.ok(!compose.services.bot!.ports, 'the bot is reached through nginx only');
    assert.match(read('deploy/nginx.conf'), /server bot:3000;/);
  });

  type Service = {
    image?: string;
    environment?: Record<string, string>;
    networks?: string[] | Record<string, { ipv4_address?: string } | null>;
    mem_limit?: string;
    deploy?: { resources?: { limits?: { memory?: string } } };
    volumes?: string[];
    ports?: string[];
  };
  const compose = () =>
    parse(read('docker-compose.yml')) as {
      services: Record<string, Service>;
      networks: Record<
        string,
        { internal?: boolean; ipam?: { config?: Array<{ subnet?: string; gateway?: string }> } } | null
      >;
    };
  const networksOf = (s: Service) => (Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {}));

  it('every service has a memory limit', () => {
    for (const [name, s] of Object.entries(compose().services)) {
      assert.ok(s.mem_limit ?? s.deploy?.resources?.limits?.memory, `${name} has no memory limit`);
    }
  });

  it('MongoDB requires authentication with credentials from the environment, on a backend network nginx cannot reach', () => {
    const c = compose();
    const mongo = c.services.mongo!;
    assert.match(mongo.environment!.MONGO_INITDB_ROOT_USERNAME!, /^\$\{MONGO_ROOT_USER:\?/);
    assert.match(mongo.environment!.MONGO_INITDB_ROOT_PASSWORD!, /^\$\{MONGO_ROOT_PASSWORD:\?/);
    assert.match(
      c.services.bot!.environment!.MONGODB_URI!,
      /^mongodb:\/\/\$\{MONGO_ROOT_USER\}:\$\{MONGO_ROOT_PASSWORD\}@mongo:27017\//,
    );
    assert.deepEqual(networksOf(mongo), ['backend']);
    assert.ok(!networksOf(c.services.nginx!).includes('backend'), 'nginx is not on the backend network');
    assert.ok(networksOf(c.services.bot!).includes('backend'));
    assert.equal(c.networks.backend?.internal, true, 'the backend network has no way out');
    assert.doesNotMatch(read('docker-compose.yml'), /PASSWORD:\s*["']?[A-Za-z0-9]/, 'no password committed');
  });

  it('the bot trusts X-Forwarded-For from nginx alone, and nginx overwrites it', () => {
    const c = compose();
    const nginx = c.services.nginx!.networks as Record<string, { ipv4_address?: string }>;
    const address = nginx.frontend?.ipv4_address;
    assert.ok(address, 'nginx has a fixed address');
    assert.equal(c.services.bot!.environment!.TRUST_PROXY, address);
    const conf = read('deploy/nginx.conf');
    assert.match(conf, /proxy_set_header X-Forwarded-For \$remote_addr;/);
    assert.doesNotMatch(conf, /proxy_add_x_forwarded_for/);
    const active = (text: string) =>
      text
        .split('\n')
        .filter((l) => !/^\s*(#|$)/.test(l))
        .join('\n');
    assert.doesNotMatch(active(conf), /set_real_ip_from/, 'real-ip trust lives in load-balancers.conf only');
    assert.doesNotMatch(
      active(read('deploy/load-balancers.conf')),
      /set_real_ip_from/,
      'no load balancer trusted by default',
    );
  });

  it('nginx: TLS with certificate paths from the environment, HSTS, nosniff, bounded proxy timeouts, ops routes fenced', () => {
    const conf = read('deploy/nginx.conf');
    assert.match(conf, /listen 443 ssl;/);
    assert.match(
      read('deploy/templates/tls.conf.template'),
      /ssl_certificate \$\{TLS_CERT\};\s+ssl_certificate_key \$\{TLS_KEY\};/,
    );
    const nginx = compose().services.nginx!;
    assert.ok(nginx.environment!.TLS_CERT && nginx.environment!.TLS_KEY);
    assert.ok(nginx.volumes!.some((v) => v.startsWith('./deploy/templates:/etc/nginx/templates')));
    assert.match(conf, /Strict-Transport-Security/);
    assert.match(conf, /X-Content-Type-Options nosniff always/);
    for (const m of conf.matchAll(/proxy_(?:connect|send|read)_timeout (\d+)s;/g)) assert.ok(Number(m[1]) <= 60, m[0]);
    assert.match(conf, /proxy_read_timeout \d+s;/);
    for (const route of ['location = /metrics', 'location ^~ /docs']) {
      const block = conf.slice(conf.indexOf(route), conf.indexOf('}', conf.indexOf('return 403', conf.indexOf(route))));
      assert.match(block, /if \(\$ops_network = 0\)/, `${route} is fenced`);
    }
  });

  it('the ops routes admit OPS_NETWORK, by default the gateway through which the Docker host reaches NGINX', () => {
    const c = compose();
    const gateway = c.networks.frontend?.ipam?.config?.[0]?.gateway;
    assert.ok(gateway, 'compose pins the frontend gateway');
    assert.equal(c.services.nginx!.environment!.OPS_NETWORK, `\${OPS_NETWORK:-${gateway}}`);
    assert.match(read('deploy/templates/ops-network.conf.template'), /^\$\{OPS_NETWORK\} 1;$/m);
    const geo = /geo \$ops_network \{([^}]*)\}/.exec(read('deploy/nginx.conf'))?.[1] ?? '';
    assert.match(geo, /include \/etc\/nginx\/conf\.d\/ops-network\.conf;/, 'the rendered template is in the geo block');
    assert.match(geo, /include \/etc\/nginx\/ops-networks\.conf;/);
    const env = parseEnvExample(read('.env.example'));
    assert.equal(env.find((e) => e.key === 'OPS_NETWORK')?.value, gateway, '.env.example gives the same default');
  });

  it('every variable docker-compose.yml reads is in the deployment section of .env.example, with a comment', () => {
    // `$$NAME` is a literal `$NAME` for the container's shell, not a compose variable.
    const text = read('docker-compose.yml').replaceAll('$$', '');
    const used = new Set([...text.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
    assert.ok(used.has('MONGO_ROOT_PASSWORD') && used.has('OPS_NETWORK'), 'the scan finds them');
    const listed = parseEnvExample(read('.env.example')).filter((e) => e.section === DEPLOYMENT_SECTION);
    assert.deepEqual(listed.map((e) => e.key).sort(), [...used].sort());
    for (const e of listed) assert.ok(e.comment.length > 10, `${e.key} has no comment`);
    const secret = listed.find((e) => e.key === 'MONGO_ROOT_PASSWORD');
    assert.equal(secret?.value, '', 'no password in .env.example');
  });

  it('nginx: the live stream is passed on unbuffered and held open past the heartbeat', () => {
    const conf = read('deploy/nginx.conf');
    // The bot's X-Accel-Buffering header turns buffering off too; the conf must not depend on it.
    const block = /location = \/api\/v1\/stream \{([^{}]*)\}/.exec(conf)?.[1];
    assert.ok(block, 'a location of its own for /api/v1/stream');
    const directives = block
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean);
    assert.ok(directives.includes('proxy_buffering off;'), directives.join(' '));
    assert.ok(directives.includes('proxy_cache off;'), directives.join(' '));
    assert.ok(directives.includes('proxy_pass http://bot;'));
    // Held open between ticks: longer than the 15 s heartbeat, whatever unit it is written in.
    const seconds = { s: 1, m: 60, h: 3600 } as const;
    for (const name of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const m = new RegExp(`^${name} (\\d+)([smh]);$`).exec(directives.find((d) => d.startsWith(name)) ?? '');
      assert.ok(m, `${name} is set for the stream`);
      assert.ok(Number(m[1]) * seconds[m[2] as keyof typeof seconds] > 15, `${name} outlasts the heartbeat`);
    }
  });
});
