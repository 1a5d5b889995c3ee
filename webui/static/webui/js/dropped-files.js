// Files and folders dropped on the page: what the drop event holds, and the folders walked.

function readEntryFile(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function readDirectoryBatch(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

export async function walk(entry, found) {
  if (entry.isFile) {
    found.push({ file: await readEntryFile(entry), path: entry.fullPath.replace(/^\//, "") });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    // readEntries answers in batches (100 in Chromium) until it answers an empty one.
    for (;;) {
      const batch = await readDirectoryBatch(reader);
      if (!batch.length) break;
      for (const child of batch) await walk(child, found);
    }
  }
}

// Entries must be taken from the DataTransfer during the drop event itself.
export function takeDropped(dataTransfer) {
  const entries = [];
  const plain = [];
  for (const item of Array.from(dataTransfer.items || [])) {
    if (item.kind !== "file") continue;
    const entry = typeof item.webkitGetAsEntry === "function" ? item.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
    else {
      const file = item.getAsFile();
      if (file) plain.push({ file, path: file.name });
    }
  }
  if (!entries.length && !plain.length) {
    for (const file of Array.from(dataTransfer.files || [])) plain.push({ file, path: file.name });
  }
  return { entries, plain };
}
