// Reelstack for Uppy 5 (@uppy/aws-s3 5.x): the five multipart functions, and the one-request upload
// for small files, against the API's own routes with the app's bearer token (never in a URL).
//
//   <script src="https://API/web/reelstack-uppy5.js"></script>
//   uppy.use(Uppy.AwsS3, ReelstackUppy5.options({ api: "https://API", token: () => currentToken() }))
//
// Uppy's defaults stay: files over 100 MiB go in parts (shouldUseMultipart), smaller ones in one PUT.
// getChunkSize runs before createMultipartUpload, so the part size is chosen here, within S3's bounds,
// and sent as POST /uploads partSize: the server signs each part's exact length to match. The optional
// onCreated(file, answer) hears of each upload as POST /uploads answers it (answer.assetId is the video).
"use strict";

(function (root) {
  const MiB = 1024 * 1024;
  const MAX_PARTS = 10000;

  // 8 MiB (the API's own choice: a dropped cellular link loses little), larger only past 10,000 parts.
  function partSize(size) {
    return Math.max(8 * MiB, Math.ceil(size / MAX_PARTS / MiB) * MiB);
  }

  function options({ api, token, onCreated = () => {} }) {
    const bearer = typeof token === "function" ? token : () => token;
    const partUrls = new Map(); // uploadId -> partNumber -> {url, headers, expiresAt}

    async function call(method, path, body, signal) {
      const response = await fetch(api + path, {
        method,
        signal,
        headers: { Authorization: `Bearer ${await bearer()}`, ...(body ? { "Content-Type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await response.text();
      const answer = text ? JSON.parse(text) : null;
      if (!response.ok) {
        throw new Error(answer?.error ? `${answer.error.code}: ${answer.error.message}` : `HTTP ${response.status}`);
      }
      return answer;
    }

    function declared(file, extra) {
      const body = { filename: file.name, size: file.size, contentType: file.type || "application/octet-stream", ...extra };
      if (typeof file.meta?.title === "string") body.title = file.meta.title;
      return body;
    }

    function remember(uploadId, parts) {
      const known = partUrls.get(uploadId) || new Map();
      for (const part of parts) known.set(part.partNumber, part);
      partUrls.set(uploadId, known);
    }

    return {
      getChunkSize: (file) => partSize(file.size),

      async getUploadParameters(file, { signal } = {}) {
        const created = await call("POST", "/uploads", declared(file, { method: "PUT" }), signal);
        onCreated(file, created);
        return { method: created.method, url: created.url, headers: created.headers, fields: created.fields };
      },

      async createMultipartUpload(file, signal) {
        const created = await call("POST", "/uploads", declared(file, { partSize: partSize(file.size) }), signal);
        onCreated(file, created);
        remember(created.uploadId, created.parts);
        return { uploadId: created.uploadId, key: created.key };
      },

      async signPart(file, { uploadId, partNumber, signal }) {
        let part = partUrls.get(uploadId)?.get(partNumber);
        if (!part || Date.parse(part.expiresAt) - Date.now() < 60_000) {
          const answer = await call("POST", `/uploads/${uploadId}/parts`, { partNumbers: [partNumber] }, signal);
          remember(uploadId, answer.parts);
          part = answer.parts[0];
        }
        return { method: "PUT", url: part.url, headers: part.headers };
      },

      async listParts(file, { uploadId, signal }) {
        const status = await call("GET", `/uploads/${uploadId}`, undefined, signal);
        return status.uploadedParts.map((part) => ({ PartNumber: part.partNumber, Size: part.size, ETag: part.etag }));
      },

      async completeMultipartUpload(file, { uploadId, parts, signal }) {
        const body = { parts: parts.map((part) => ({ partNumber: part.PartNumber, etag: part.ETag })) };
        const done = await call("POST", `/uploads/${uploadId}/complete`, body, signal);
        partUrls.delete(uploadId);
        return { location: done.location };
      },

      async abortMultipartUpload(file, { uploadId, signal }) {
        partUrls.delete(uploadId);
        await call("DELETE", `/uploads/${uploadId}`, undefined, signal);
      },
    };
  }

  root.ReelstackUppy5 = { options, partSize };
})(globalThis);
