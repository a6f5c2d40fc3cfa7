()=>{let e=U,_=[];U=u=>_?_.length<100&&_.push(u):e(u),C.consent=u=>{let l=_||[];_=!u&&[],u&&l.map(e)}}
