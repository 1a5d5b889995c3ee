// How an upload goes to the server: files in batches into one import, a large file in chunks.

import { api, ApiError, upload } from "./api.js";

// Batches of at most BATCH_FILES files and BATCH_BYTES bytes; a file of CHUNKED_FROM bytes or
// more (a disc's ZIP) goes alone in chunks of CHUNK_BYTES, resumed from the server's offset.
const BATCH_FILES = 200;
const BATCH_BYTES = 256 * 1024 * 1024;
export const CHUNKED_FROM = 64 * 1024 * 1024;
const CHUNK_BYTES = 16 * 1024 * 1024;

export async function sendInChunks(importId, item, onProgress) {
  const size = item.file.size;
  const started = await api(`/api/dicom/imports/${importId}/uploads/`, {
    method: "POST",
    body: { path: item.path, size_bytes: size },
  });
  let offset = started.offset; // a file begun before goes on from where the server's copy ends
  let answer = null;
  while (offset < size) {
    const end = Math.min(size, offset + CHUNK_BYTES);
    const from = offset;
    try {
      answer = await upload(
        `/api/dicom/imports/${importId}/uploads/${started.upload_id}/?offset=${offset}`,
        item.file.slice(offset, end),
        (loaded) => onProgress(from + loaded),
        "PATCH",
      );
    } catch (error) {
      // Our copy and the server's disagree (a chunk arrived whose answer was lost): go on from its.
      if (error instanceof ApiError && error.status === 409 && error.body && Number.isInteger(error.body.offset)) {
        offset = error.body.offset;
        continue;
      }
      throw error;
    }
    offset = answer.offset;
    onProgress(offset);
  }
  return answer;
}

export function batches(items) {
  const result = [];
  let current = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length && (current.length >= BATCH_FILES || bytes + item.file.size > BATCH_BYTES)) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.file.size;
  }
  if (current.length) result.push(current);
  return result;
}

// One batch (multipart, each file named by its relative path); onProgress(bytes of the files sent).
export async function sendBatch(importId, batch, onProgress) {
  const form = new FormData();
  for (const item of batch) form.append("files", item.file, item.path);
  const bytes = batch.reduce((sum, item) => sum + item.file.size, 0);
  return upload(`/api/dicom/imports/${importId}/files/`, form, (loaded, sent) =>
    // "sent" counts the multipart framing too: scale to the files' bytes.
    onProgress(Math.min(bytes, (loaded / sent) * bytes)),
  );
}
