/** The two functions of the pure-JavaScript `snappyjs` package that barman-ts uses (raw snappy blocks). */
declare module 'snappyjs' {
  export function compress<T extends Uint8Array>(uncompressed: T): T;
  export function uncompress<T extends Uint8Array>(compressed: T, maxLength?: number): T;
}
