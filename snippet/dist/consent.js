()=>{const e=J;let _=[];J=n=>_?_.length<100&&_.push(n):e(n),b.consent=n=>{const u=_||[];_=!n&&[],n&&u.map(e)}}
