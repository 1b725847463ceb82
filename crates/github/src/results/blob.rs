//! Uploads to a signed blob URL (ref §5.4 step 2): one BlockBlob for a file that fits one
//! block, else an AppendBlob created empty and filled block by block, the last one sealing it.
//! No Authorization header: the URL's SAS query authorises.

use crate::http::{self, HttpError};

/// Results blocks are at most 2 MiB (ref §5.4).
pub const BLOCK: usize = 2 * 1024 * 1024;

/// Uploads `data` in one block or as append blocks.
pub async fn put(client: &reqwest::Client, url: &str, azure: bool, data: &[u8]) -> Result<(), HttpError> {
    if data.len() <= BLOCK {
        return put_block(client, url, azure, data).await;
    }
    let mut create = client.put(url).header("Content-Type", "text/plain").header("Content-Length", "0").body("");
    if azure {
        create = create.header("x-ms-blob-type", "AppendBlob");
    }
    http::send("PUT", url, create.timeout(http::CALL_TIMEOUT)).await?;
    let blocks: Vec<&[u8]> = data.chunks(BLOCK).collect();
    let last = blocks.len().saturating_sub(1);
    for (index, block) in blocks.into_iter().enumerate() {
        let sealed = index == last;
        let join = if url.contains('?') { '&' } else { '?' };
        let block_url = if sealed {
            format!("{url}{join}comp=appendblock&seal=true")
        } else {
            format!("{url}{join}comp=appendblock")
        };
        let mut request = client.put(&block_url).header("Content-Type", "text/plain").body(block.to_vec());
        if azure {
            request = request.header("x-ms-blob-sealed", if sealed { "true" } else { "false" });
        }
        http::send("PUT", &block_url, request.timeout(http::CALL_TIMEOUT)).await?;
    }
    Ok(())
}

/// Uploads `data` as one BlockBlob.
pub async fn put_block(client: &reqwest::Client, url: &str, azure: bool, data: &[u8]) -> Result<(), HttpError> {
    let mut request = client.put(url).header("Content-Type", "text/plain").body(data.to_vec());
    if azure {
        request = request.header("x-ms-blob-type", "BlockBlob");
    }
    http::send("PUT", url, request.timeout(http::CALL_TIMEOUT)).await?;
    Ok(())
}
