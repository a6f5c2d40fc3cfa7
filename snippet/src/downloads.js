/*
 * Downloads: a link whose URL path ends in a known extension, or any <a download>.
 * Only the last segment of an http(s) URL's path is read: query and fragment are ignored, and
 * neither a host name nor a dotted directory is an extension. The longest listed extension
 * wins (tar.gz, not gz). Other schemes (blob:, data:, mailto:) are never sent: their name is
 * the download attribute or the scheme. The site's download_extensions come first, as a
 * regular-expression alternation the generator writes (each validated and its dots escaped).
 */
__MICROCV_MODULE__(() => {
  const pattern = RegExp('\\.(' + (cfg._download_extensions || '') +
    'pdf|zip|(tar\\.)?gz|tgz|bz2|xz|7z|rar|dmg|exe|msi|pkg|deb|rpm|apk|iso|(doc|xls|ppt)x?|' +
    'od[tsp]|rtf|csv|txt|epub|mp[34]|wav|ogg|flac|mov|avi|mkv|webm)$', 'i');

  clicks.push((t, ev, a, url) => {
    const name = a && a.getAttribute('download');
    let file = url && /^http/.test(url.protocol) ? url.pathname.split('/').pop() : '';
    const match = pattern.exec(file);
    if (match || name != null) {
      try {
        file = decodeURIComponent(file);
      } catch {
        // a malformed escape: keep the name as written
      }
      return track('download', name || file || url.protocol.slice(0, -1), match && {ext: match[1].toLowerCase()});
    }
  });
});
