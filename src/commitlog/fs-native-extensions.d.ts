// The part of fs-native-extensions (advisory file locks with the kernel's flock) raftmq uses.
declare module 'fs-native-extensions' {
  /** Takes an exclusive lock on the open file `fd` without waiting; false if another open file
   *  description holds one. */
  export function tryLock(fd: number, exclusive?: boolean): boolean;
  export function unlock(fd: number): void;
  const fsx: { tryLock: typeof tryLock; unlock: typeof unlock };
  export default fsx;
}
