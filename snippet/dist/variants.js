()=>{let e={},t=T;T=(r,o,i)=>t(r,o,{...e,...i}),k.variant=(t,r)=>{t&&null!=r&&T("variant",t,{variant:e["exp:"+t]=""+r})},k.identify=t=>{/^[\w.:-]{1,64}$/.test(t)&&(e.uid=t)}}
