/** A JSON value as it arrives in `arguments`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
