/**
 * A Fastify type provider for the flat JSON schemas the routes declare: a handler's `req.query` and
 * `req.params` are typed from the same `querystring` / `params` schema Fastify validates with, so
 * the two cannot drift apart. It reads what those schemas use (string, integer, number, boolean,
 * enum, required, default); the response stays as Fastify types it, checked by its serialiser.
 */
import type { FastifyPluginAsync, FastifyPluginOptions, FastifyTypeProvider, RawServerDefault } from 'fastify';

type ValueOf<S> = S extends { readonly enum: readonly (infer E)[] }
  ? E
  : S extends { readonly type: 'string' }
    ? string
    : S extends { readonly type: 'integer' | 'number' }
      ? number
      : S extends { readonly type: 'boolean' }
        ? boolean
        : unknown;

type RequiredKeys<S> = S extends { readonly required: readonly (infer K)[] } ? K : never;
/** A property with a default is always there once Fastify has validated the request. */
type DefaultedKeys<P> = { [K in keyof P]: P[K] extends { readonly default: unknown } ? K : never }[keyof P];

type Simplify<T> = { [K in keyof T]: T[K] };

/** `{ type: 'object', properties: {...}, required: [...] }` -> the object it validates. */
export type FromFlatSchema<S> = S extends { readonly type: 'object'; readonly properties: infer P }
  ? Simplify<
      { [K in keyof P as K extends RequiredKeys<S> | DefaultedKeys<P> ? K : never]: ValueOf<P[K]> } & {
        [K in keyof P as K extends RequiredKeys<S> | DefaultedKeys<P> ? never : K]?: ValueOf<P[K]>;
      }
    >
  : unknown;

export interface FlatSchemaProvider extends FastifyTypeProvider {
  readonly validator: FromFlatSchema<this['schema']>;
  readonly serializer: unknown;
}

/** A route plugin whose handlers are typed from their schemas. */
export type TypedRoutes<Options extends FastifyPluginOptions = Record<never, never>> = FastifyPluginAsync<
  Options,
  RawServerDefault,
  FlatSchemaProvider
>;
