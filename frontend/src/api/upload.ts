/**
 * Multipart upload with progress. fetch() cannot report upload progress, so this one call uses XMLHttpRequest;
 * it sends the CSRF header like the generated client and turns errors into the same ApiError.
 */
import { ApiError, csrfToken } from "./client";

export function uploadWithProgress<T>(url: string, body: FormData, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.responseType = "json";
    const token = csrfToken();
    if (token) xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response as T);
      else reject(ApiError.from(xhr.status, xhr.response));
    };
    xhr.onerror = () => reject(new ApiError(0, "network_error", "the upload did not reach the server", null, null));
    xhr.send(body);
  });
}
